"""Hand-written statements on the hot paths, sent with their parameters apart on Postgres.

A model-free bottom layer: it knows connections, not apps.

Django's Postgres cursors bind client-side: every value is quoted into the
statement's text, which Postgres then parses whole. ``bound_cursor`` sends
the statement and its values apart (server-side binding), so a multi-row
statement of arrays costs one parse of a fixed text, and psycopg can keep
it prepared per connection once the operator turns prepared statements on
(``DATABASES["default"]["OPTIONS"]["prepare_threshold"]``; Django leaves
them off because a pooler in transaction mode must support them: PgBouncer
1.21 or later with ``max_prepared_statements``, docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.base.base import BaseDatabaseWrapper


@contextmanager
def bound_cursor(connection: BaseDatabaseWrapper) -> Iterator:
    """A Django cursor (errors translated, queries logged as usual) binding server-side on Postgres.

    Elsewhere it is the connection's ordinary cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(ServerBindingCursor(connection.connection))
    with cursor:
        yield cursor
