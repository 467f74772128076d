"""A database that cannot take the callback: M-Pesa gets a 503 with a JSON error, nothing is half-written.

The real gunicorn process meets a real write failure: on SQLite another
connection holds the write lock past the web's lock timeout; on PostgreSQL
another connection locks the deliveries table, so the callback row is
written and the delivery row times out in the same transaction, which must
then leave neither behind.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest

from tests.faults.processes import Database
from tests.faults.stack import Stack
from tests.faults.traffic import stk_callback

pytestmark = pytest.mark.faults


@contextmanager
def writes_blocked(database: Database):
    if database.is_postgres:
        import psycopg

        with psycopg.connect(database.url.replace("postgres://", "postgresql://", 1)) as connection:
            connection.execute("LOCK TABLE delivery_delivery IN ACCESS EXCLUSIVE MODE")
            yield
            connection.rollback()
        return
    connection = sqlite3.connect(database.path, timeout=30, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")  # holds the write lock; readers still read
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def stored(stack: Stack, checkout_id: str) -> tuple[int, int]:
    [(callbacks, deliveries)] = stack.database.rows(
        "SELECT COUNT(DISTINCT c.id), COUNT(d.id) FROM webhooks_callback c"
        " LEFT JOIN delivery_delivery d ON d.callback_id = c.id WHERE c.checkout_request_id = ?",
        (checkout_id,),
    )
    return callbacks, deliveries


def test_a_database_that_cannot_be_written_gets_a_503_json_and_nothing_half_written(template):
    # The web gives up on a lock after 1 s here (production waits longer); nothing else changes.
    stack = Stack(
        template, "database_refuses", workers=0, SQLITE_TIMEOUT="1", PGOPTIONS="-c lock_timeout=1000"
    )
    try:
        # when the database cannot take the callback
        with writes_blocked(stack.database):
            status, body = stack.post(stk_callback("ws_CO_refused", amount=10))
        # then M-Pesa sees a failure, and neither the callback nor a delivery was kept
        assert status == 503
        assert body == {
            "error": "service_unavailable",
            "detail": "The relay cannot store callbacks right now.",
        }
        assert stored(stack, "ws_CO_refused") == (0, 0)
        # and once it can, the same callback is kept with its delivery
        status, body = stack.post(stk_callback("ws_CO_refused", amount=10))
        assert (status, body) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})
        assert stored(stack, "ws_CO_refused") == (1, 1)
    except Exception as failure:
        raise AssertionError(f"{failure}\n{stack.logs()}") from failure
    finally:
        stack.close()
