"""Multi-row INSERTs that give every row its primary key, on every database Django supports."""

from __future__ import annotations

from typing import TypeVar

from django.db import connections, router
from django.db.models import Model

M = TypeVar("M", bound=Model)


def insert_rows(model: type[M], rows: list[M]) -> list[M]:
    """INSERT ``rows`` (call inside a transaction); each row has its ``pk`` set afterwards.

    One multi-row statement where the database returns the new keys
    (PostgreSQL, SQLite 3.35 and later, MariaDB 10.5+); one INSERT per row
    elsewhere (SQLite 3.31-3.34, which Django 5.2 still supports).
    """
    features = connections[router.db_for_write(model)].features
    if features.can_return_rows_from_bulk_insert:
        return model.objects.bulk_create(rows)
    for row in rows:
        row.save(force_insert=True)
    return rows
