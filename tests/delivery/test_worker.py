"""A real ``manage.py rqworker … --with-scheduler`` process: SIGTERM, SIGKILL, Redis going away.

The worker, gunicorn, Redis and the database are real processes (the fault
suite's harness, tests/faults/); the receiver is a real HTTP server here.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults.processes import Database, throwaway_postgres, wait_for
from tests.faults.stack import Stack, make_template, postgres_server_url
from tests.faults.traffic import FaultyReceiver, stk_callback
from tests.support import Reply


@pytest.fixture(scope="module")
def receiver():
    server = FaultyReceiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def template(receiver):
    directory = Path(tempfile.mkdtemp(prefix="daraja-lifecycle-"))
    server = postgres_server_url()
    database = (
        throwaway_postgres(server, "daraja_lifecycle") if server else Database.sqlite(directory / "t.sqlite3")
    )
    # A 5 s request timeout: the slow receivers below answer within it.
    yield make_template(directory, database, receiver.url("/hook"), "--timeout", "5")
    database.drop()
    shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def relay(template, receiver: FaultyReceiver, name: str, **settings: str):
    receiver.reset()
    stack = Stack(template, name, workers=1, **settings)
    try:
        yield stack
    except Exception as failure:
        raise AssertionError(f"{failure}\n{stack.logs()}") from failure
    finally:
        stack.close()


def send(stack: Stack, checkout_id: str) -> None:
    assert stack.post(stk_callback(checkout_id, amount=10))[0] == 200


def delivery_state(stack: Stack, checkout_id: str) -> tuple[str, int]:
    """The delivery's status and how many attempt rows it has."""
    [row] = stack.database.rows(
        "SELECT d.status, (SELECT COUNT(*) FROM delivery_deliveryattempt a WHERE a.delivery_id = d.id)"
        " FROM delivery_delivery d JOIN webhooks_callback c ON c.id = d.callback_id"
        " WHERE c.checkout_request_id = ?",
        (checkout_id,),
    )
    return row


def arrived(receiver: FaultyReceiver, checkout_id: str) -> bool:
    return checkout_id in receiver.accepted_ids()


def test_sigterm_lets_the_delivery_in_flight_finish_and_record_its_attempt(template, receiver):
    with relay(template, receiver, "sigterm") as stack:
        # given a delivery in flight to a receiver that takes 3 s to answer
        receiver.script("/hook", Reply(delay=3.0))
        send(stack, "ws_CO_sigterm")
        wait_for(lambda: receiver.requests, timeout=30, what="the delivery to reach the receiver")
        # when the process manager stops the worker
        signalled = time.monotonic()
        exit_code = stack.workers[0].terminate(wait=30)
        stopped = time.monotonic()
        # then the worker waited for the answer, recorded the attempt and exited cleanly
        assert exit_code == 0
        assert stopped - signalled >= 2.0
        assert delivery_state(stack, "ws_CO_sigterm") == ("delivered", 1)
        assert len(receiver.requests) == 1


def test_a_delivery_whose_worker_was_killed_mid_attempt_is_attempted_again_with_the_same_webhook_id(
    template, receiver
):
    with relay(template, receiver, "sigkill") as stack:
        # given a delivery in flight to a slow receiver
        receiver.script("/hook", Reply(delay=8.0))
        send(stack, "ws_CO_sigkill")
        wait_for(lambda: receiver.requests, timeout=30, what="the delivery to reach the receiver")
        # when its worker is SIGKILLed and the supervisor starts another
        stack.kill_a_worker(random.Random(0))
        # then its lease runs out and the new worker claims it and sends it again, same webhook-id
        wait_for(lambda: len(receiver.requests) >= 2, timeout=60, what="the delivery to be attempted again")
        first, second = receiver.requests[:2]
        assert second.headers["webhook-id"] == first.headers["webhook-id"]
        # the killed attempt was never recorded, so the new one is attempt 1 again
        assert second.headers["X-Daraja-Attempt"] == first.headers["X-Daraja-Attempt"] == "1"
        state = wait_for(
            lambda: (s := delivery_state(stack, "ws_CO_sigkill"))[0] == "delivered" and s,
            timeout=30,
            what="the delivery to be recorded as delivered",
        )
        assert state == ("delivered", 1)


@pytest.mark.parametrize("window_ms", ["0", "20"], ids=["wake-at-once", "wake-coalesced"])
def test_a_worker_carries_on_through_redis_outages_without_a_restart(template, receiver, window_ms):
    # The drain job is still running when Redis goes mid-delivery: it records the attempt in the
    # database and only RQ's own bookkeeping of the job meets the outage.
    with relay(template, receiver, f"redis_outages_{window_ms}", DELIVERY_WAKE_WINDOW_MS=window_ms) as stack:
        worker = stack.workers[0]
        send(stack, "ws_CO_before")
        wait_for(lambda: arrived(receiver, "ws_CO_before"), timeout=30, what="the first delivery")
        # when Redis crashes while the worker waits for work, and comes back
        stack.redis.crash()
        time.sleep(2)  # the outage's length
        assert worker.alive()
        stack.redis.start()
        send(stack, "ws_CO_after_outage")
        wait_for(lambda: arrived(receiver, "ws_CO_after_outage"), timeout=30, what="a delivery after Redis")
        # when Redis crashes while the worker is in the middle of a delivery
        receiver.script("/hook", Reply(delay=2.0))
        send(stack, "ws_CO_mid_job")
        wait_for(lambda: arrived(receiver, "ws_CO_mid_job"), timeout=30, what="the slow delivery to start")
        stack.redis.crash()
        wait_for(
            lambda: delivery_state(stack, "ws_CO_mid_job") == ("delivered", 1),
            timeout=30,
            what="the attempt to be recorded in the database without Redis",
        )
        stack.redis.start()
        send(stack, "ws_CO_after_mid_job")
        wait_for(lambda: arrived(receiver, "ws_CO_after_mid_job"), timeout=30, what="a delivery after that")
        # then it is the same worker process throughout, which logged what Redis missed
        assert worker.alive() and stack.workers == [worker]
        assert "Redis unavailable while finishing job" in worker.log_path.read_text()
