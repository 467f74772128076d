"""Wake-ups: a burst of callbacks makes few RQ jobs, and none is lost or doubled (real Redis, real RQ)."""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from delivery.jobs import drain_deliveries
from delivery.models import Delivery
from delivery.priority import Priority
from delivery.queues import delivery_queue, delivery_queues, redis_connection
from delivery.wakeup import DRAIN_JOB, Woken, process_waker, wake_at, wake_key, wake_now
from tests.helpers import post_callback
from tests.support import run_worker

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def jobs_waiting() -> list[Job]:
    connection = redis_connection()
    return [Job.fetch(job_id, connection=connection) for q in delivery_queues() for job_id in q.get_job_ids()]


def test_a_burst_of_callbacks_makes_one_drain_job_per_priority(client, receiver, endpoint_factory, settings):
    # given gathering over a window, as shipped
    settings.DELIVERY_WAKE_WINDOW_MS = 200
    settings.ENABLE_TEST_ENDPOINTS = True
    endpoint_factory(user_id="shop1")
    # when 30 normal and 5 urgent callbacks arrive at once
    for _ in range(30):
        assert post_callback(client, "shop1").status_code == 200
    for _ in range(5):
        assert client.post("/test/priority/shop1/urgent").status_code == 200
    time.sleep(0.5)  # past the window
    # then two jobs wake the workers, and one worker run delivers all 35
    jobs = jobs_waiting()
    assert sorted((job.func_name, job.args) for job in jobs) == [
        (DRAIN_JOB, (int(Priority.NORMAL),)),
        (DRAIN_JOB, (int(Priority.URGENT),)),
    ]
    run_worker()
    assert Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 35
    assert len(receiver.requests_to("/hook")) == 35


def test_a_quiet_process_wakes_the_workers_at_once(client, endpoint_factory, settings):
    settings.DELIVERY_WAKE_WINDOW_MS = 5000  # a long window: only the first wake-up may go before it ends
    endpoint_factory(user_id="shop1")
    process_waker().flush()
    time.sleep(0.05)
    post_callback(client, "shop1")
    deadline = time.monotonic() + 2
    while not jobs_waiting() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(jobs_waiting()) == 1


def test_a_waiting_drain_is_not_doubled_and_a_started_one_lets_the_next_wake_up_through():
    assert wake_now(Priority.NORMAL) is Woken.QUEUED
    assert wake_now(Priority.NORMAL) is Woken.WAITING
    assert delivery_queue(Priority.NORMAL).count == 1
    # when the drain starts, deliveries committed after it wake another
    drain_deliveries(int(Priority.NORMAL))
    assert not redis_connection().exists(wake_key(Priority.NORMAL))
    assert wake_now(Priority.NORMAL) is Woken.QUEUED


def test_retries_due_in_the_same_second_share_one_scheduled_drain():
    at = timezone.now().replace(microsecond=100_000) + timedelta(seconds=30)
    for offset_ms in (0, 300, 800):
        assert wake_at(Priority.HIGH, at + timedelta(milliseconds=offset_ms))
    wake_at(Priority.HIGH, at + timedelta(seconds=2))
    registry = ScheduledJobRegistry(queue=delivery_queue(Priority.HIGH))
    assert registry.count == 2


def test_redis_down_is_reported_not_raised(settings):
    from tests.support import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    assert wake_now(Priority.LOW) is Woken.REDIS_DOWN
    assert not wake_now(Priority.LOW)
    assert wake_at(Priority.LOW, timezone.now()) is False


def test_an_awake_drain_finds_new_deliveries_itself_and_lets_wake_ups_through_when_it_ends(
    client, receiver, endpoint_factory, settings
):
    import threading

    from delivery import engine

    settings.DELIVERY_DRAIN_LINGER_MS = 600
    endpoint_factory(user_id="shop1")
    finished = threading.Event()

    def drain():
        from django.db import connections

        try:
            engine.drain(priority=int(Priority.NORMAL))
        finally:
            connections.close_all()
            finished.set()

    threading.Thread(target=drain, daemon=True).start()
    time.sleep(0.2)
    # while it is awake, new callbacks queue no job: the drain claims them
    for _ in range(3):
        post_callback(client, "shop1")
    deadline = time.monotonic() + 5
    while len(receiver.requests_to("/hook")) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(receiver.requests_to("/hook")) == 3
    assert delivery_queue(Priority.NORMAL).count == 0
    # and once it has ended, the next callback wakes the workers again
    assert finished.wait(5)
    post_callback(client, "shop1")
    assert delivery_queue(Priority.NORMAL).count == 1


SLOW_SEND_THEN_EXIT = """
import time
import django
django.setup()
from delivery import wakeup
real_wake_now = wakeup.wake_now

def slow_wake_now(priority):
    time.sleep(0.5)  # the waker thread is mid-send when the process reaches its exit
    return real_wake_now(priority)

wakeup.wake_now = slow_wake_now
wakeup.process_waker().wake({5})
time.sleep(0.1)  # the thread has taken the mark
"""


def test_a_process_that_exits_right_after_a_wake_up_still_sends_it(redis_server_url):
    # given a short-lived process (a management command: `add_endpoint --active`) that wakes the workers
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "daraja.settings", "REDIS_URL": redis_server_url}
    env["DELIVERY_WAKE_WINDOW_MS"] = "200"
    # when it exits while its waker thread is sending
    done = subprocess.run(  # the suite's interpreter, the project's code
        [sys.executable, "-c", SLOW_SEND_THEN_EXIT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # then the drain job is in the queue all the same
    assert [(job.func_name, job.args) for job in jobs_waiting()] == [(DRAIN_JOB, (int(Priority.NORMAL),))]
