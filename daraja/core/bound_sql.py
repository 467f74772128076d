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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper


@contextmanager
def bound_cursor(connection: BaseDatabaseWrapper, *, health_check: bool = True) -> Iterator:
    """A Django cursor (errors translated, queries logged as usual) binding server-side on Postgres.

    Elsewhere it is the connection's ordinary cursor. ``health_check=False``
    leaves out Django's per-request check (``fetchall_checked`` stands in).
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    if health_check:
        connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(ServerBindingCursor(connection.connection))
    with cursor:
        yield cursor


def fetchall_checked(connection: BaseDatabaseWrapper, sql: str, params: Sequence) -> list[tuple]:
    """The rows of a read-only statement that also serves as the request's connection health check.

    With ``CONN_HEALTH_CHECKS`` on, Django sends ``SELECT 1`` before the
    first statement of every request that reuses a connection: one more
    round trip per inbound callback, which under load cost about as much as
    the endpoint lookup itself. Here the statement is the check: when it
    fails because the reused connection broke (a database restart), the
    connection is replaced and the statement sent once more, as the check
    would have done, and Django counts the check as done for this request.
    Inside a transaction, or with the checks off, it is a plain statement.
    """
    checking = (
        connection.vendor == "postgresql"
        and connection.connection is not None
        and connection.health_check_enabled
        and not connection.health_check_done
        and not connection.in_atomic_block
    )
    try:
        with bound_cursor(connection, health_check=not checking) as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except (OperationalError, InterfaceError):
        if not checking or connection.is_usable():
            raise  # the statement failed, not the connection
        connection.close()
        with bound_cursor(connection) as cursor:  # a new connection: healthy by definition
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    if checking:
        connection.health_check_done = True
    return rows
