"""Batch jobs: deliveries gathered per process into one RQ job, sent concurrently, each still its own.

Real Redis, real RQ worker, real receiver; callbacks come through the inbound view.
"""

from __future__ import annotations

import time

import pytest
from rq.job import Job

from delivery.batching import DeliveryGatherer
from delivery.models import Delivery, DeliveryAttempt
from delivery.queues import delivery_queue, enqueue_delivery_batch, redis_connection
from delivery.threads import drain_delivery_threads
from tests.helpers import post_callback, stk_body
from tests.support import Reply, run_worker
from webhooks.priorities import Priority

pytestmark = pytest.mark.django_db(transaction=True)


def queued_jobs(priority: int = Priority.NORMAL) -> list[Job]:
    queue = delivery_queue(priority)
    return [job for job in Job.fetch_many(queue.get_job_ids(), connection=redis_connection()) if job]


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def gathering(settings):
    """Gathering on, with a window long enough that a test can see what waits inside it."""
    settings.DELIVERY_BATCH_WINDOW_MS = 1500
    settings.DELIVERY_BATCH_SIZE = 8
    return settings


def test_a_burst_becomes_batch_jobs_and_every_delivery_gets_its_own_attempt(
    client, receiver, endpoint_factory, gathering
):
    # given gathering on and ten callbacks arriving together
    endpoint_factory(user_id="shop1", default_priority=Priority.NORMAL)
    gatherer_settled = wait_for(lambda: not queued_jobs(), timeout=0.1)
    assert gatherer_settled
    for n in range(10):
        assert post_callback(client, "shop1", stk_body(f"ws_CO_batch_{n}")).status_code == 200

    # then they are queued as a few jobs, not ten (the first at once, the rest within the window)
    assert wait_for(lambda: sum(len(job.args[0]) for job in queued_jobs()) == 10)
    jobs = queued_jobs()
    assert len(jobs) < 10
    assert {job.func_name for job in jobs} == {"delivery.jobs.deliver_batch"}
    assert max(len(job.args[0]) for job in jobs) <= 8

    # when a worker runs them
    run_worker()

    # then each callback arrived once, and each delivery has exactly one attempt row
    ids = sorted(request.headers["webhook-id"] for request in receiver.requests_to("/hook"))
    assert ids == sorted(Delivery.objects.values_list("webhook_id", flat=True))
    assert len(set(ids)) == 10
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert DeliveryAttempt.objects.count() == 10


def test_a_quiet_process_queues_at_once_and_only_followers_wait_for_the_window(
    client, receiver, endpoint_factory, gathering
):
    endpoint_factory(user_id="shop1", default_priority=Priority.NORMAL)
    gatherer = DeliveryGatherer()  # a fresh one: nothing flushed yet, so the process counts as quiet

    gatherer.add(delivery_id=1001, priority=Priority.NORMAL, timeout_seconds=5)
    assert wait_for(lambda: len(queued_jobs()) == 1, timeout=0.75)  # well inside the 1.5 s window

    gatherer.add(delivery_id=1002, priority=Priority.NORMAL, timeout_seconds=5)
    gatherer.add(delivery_id=1003, priority=Priority.NORMAL, timeout_seconds=5)
    time.sleep(0.5)
    assert len(queued_jobs()) == 1  # the followers wait for the rest of the window...
    assert wait_for(lambda: len(queued_jobs()) == 2, timeout=3)  # ...then go as one job
    follower = queued_jobs()[-1]
    assert (follower.func_name, follower.args) == ("delivery.jobs.deliver_batch", ([1002, 1003],))


def test_a_full_batch_goes_at_once_and_the_rest_waits_to_fill_the_next(
    client, receiver, endpoint_factory, gathering
):
    """A group commit hands over many deliveries at once: whole batches go, a remainder gathers on."""
    endpoint_factory(user_id="shop1", default_priority=Priority.NORMAL)
    gatherer = DeliveryGatherer()
    gatherer.add(delivery_id=1, priority=Priority.NORMAL, timeout_seconds=5)  # quiet: at once
    assert wait_for(lambda: len(queued_jobs()) == 1, timeout=0.75)

    for delivery_id in range(2, 22):  # 20 at once, inside the 1.5 s window; batches of 8
        gatherer.add(delivery_id=delivery_id, priority=Priority.NORMAL, timeout_seconds=5)
    assert wait_for(lambda: len(queued_jobs()) == 3, timeout=0.75)  # two full batches, well inside it
    time.sleep(0.3)
    assert [job.args[0] for job in queued_jobs()] == [[1], list(range(2, 10)), list(range(10, 18))]
    assert wait_for(lambda: len(queued_jobs()) == 4, timeout=3)  # the four left go when the window ends
    assert queued_jobs()[-1].args[0] == [18, 19, 20, 21]


def test_batches_keep_priorities_apart(gathering):
    gatherer = DeliveryGatherer()
    for delivery_id, priority in [
        (1, Priority.LOW),
        (2, Priority.URGENT),
        (3, Priority.LOW),
        (4, Priority.URGENT),
    ]:
        gatherer._gathered.append(_due(delivery_id, priority))
    assert gatherer.flush() == 4
    assert [job.args[0] for job in queued_jobs(Priority.URGENT)] == [[2, 4]]
    assert [job.args[0] for job in queued_jobs(Priority.LOW)] == [[1, 3]]


def test_a_batch_sends_concurrently_and_each_delivery_keeps_its_own_outcome(
    receiver, endpoint_factory, client, settings
):
    settings.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = 10  # the cap has tests of its own
    # given three merchants: one answers slowly, one fails for now, one refuses the payload
    endpoint_factory(user_id="slow", url=receiver.url("/slow"), default_priority=Priority.NORMAL)
    endpoint_factory(user_id="flaky", url=receiver.url("/flaky"), default_priority=Priority.NORMAL)
    endpoint_factory(user_id="picky", url=receiver.url("/picky"), default_priority=Priority.NORMAL)
    receiver.default = Reply(delay=0.4)
    receiver.script("/flaky", Reply(status=503, delay=0.4))
    receiver.script("/picky", Reply(status=400, delay=0.4))
    for n, user_id in enumerate(["slow", "slow", "slow", "flaky", "picky"]):
        post_callback(client, user_id, stk_body(f"ws_CO_mixed_{n}"))
    ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    redis_connection().flushdb()  # only the batch job below

    # when they go out as one batch job
    assert enqueue_delivery_batch(delivery_ids=ids, priority=Priority.NORMAL, timeout_seconds=5)
    run_worker(until=lambda: not Delivery.objects.filter(status="pending").exists())

    # then they were in flight together (each reply takes 0.4 s, yet all five arrived within it)...
    first_arrivals = sorted(request.at for request in receiver.requests)[:5]
    assert first_arrivals[-1] - first_arrivals[0] < 0.4
    # ...and each has its own attempt and next state
    by_user = {d.endpoint.user_id: d for d in Delivery.objects.select_related("endpoint")}
    assert Delivery.objects.filter(endpoint__user_id="slow", status=Delivery.Status.DELIVERED).count() == 3
    assert by_user["picky"].status == Delivery.Status.DEAD
    flaky = by_user["flaky"]
    assert flaky.status in (Delivery.Status.RETRYING, Delivery.Status.DELIVERED)
    first_flaky_attempt = flaky.attempts.order_by("attempt_number").first()
    assert (first_flaky_attempt.response_status, first_flaky_attempt.outcome) == (503, "retry_scheduled")
    for delivery in Delivery.objects.all():
        assert [a.attempt_number for a in delivery.attempts.order_by("attempt_number")] == list(
            range(1, delivery.attempt_count + 1)
        )


def test_a_batch_job_skips_deliveries_that_are_no_longer_waiting(receiver, endpoint_factory, client):
    endpoint_factory(user_id="shop1")
    for n in range(3):
        post_callback(client, "shop1", stk_body(f"ws_CO_skip_{n}"))
    run_worker()
    assert len(receiver.requests_to("/hook")) == 3
    ids = list(Delivery.objects.values_list("pk", flat=True))

    from delivery.jobs import deliver_batch

    assert deliver_batch(ids) == 3
    assert drain_delivery_threads(timeout=10) == 0
    assert len(receiver.requests_to("/hook")) == 3
    assert DeliveryAttempt.objects.count() == 3


def test_a_delivery_in_flight_holds_a_thread_not_the_worker(receiver, endpoint_factory, client):
    # given a batch job for a merchant that takes 2 s to answer, queued before one for a quick merchant
    endpoint_factory(user_id="slow", url=receiver.url("/slow"), default_priority=Priority.NORMAL)
    endpoint_factory(user_id="quick", url=receiver.url("/quick"), default_priority=Priority.NORMAL)
    receiver.script("/slow", Reply(delay=2))
    post_callback(client, "slow", stk_body("ws_CO_slow"))
    post_callback(client, "quick", stk_body("ws_CO_quick"))
    slow_id, quick_id = Delivery.objects.order_by("pk").values_list("pk", flat=True)
    redis_connection().flushdb()
    enqueue_delivery_batch(delivery_ids=[slow_id], priority=Priority.NORMAL, timeout_seconds=5)
    enqueue_delivery_batch(delivery_ids=[quick_id], priority=Priority.NORMAL, timeout_seconds=5)

    # when one worker runs both
    run_worker()

    # then the quick merchant was served while the slow one was still answering...
    [slow] = receiver.requests_to("/slow")
    [quick] = receiver.requests_to("/quick")
    assert quick.at - slow.at < 1.0
    # ...and the worker did not stop before the slow attempt was recorded
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    assert DeliveryAttempt.objects.count() == 2


def test_redis_down_when_a_batch_is_queued_leaves_the_deliveries_for_the_sweeper(settings, caplog, gathering):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    gatherer = DeliveryGatherer()
    gatherer._gathered.extend([_due(7, Priority.NORMAL), _due(8, Priority.NORMAL)])
    assert gatherer.flush() == 0
    assert "deliveries 7, 8 stay pending" in caplog.text


def _due(delivery_id, priority):
    from delivery.batching import _Due

    return _Due(delivery_id, priority, 5)


def _delivery_thread_names() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("delivery_")]


def _database_backends() -> int | None:
    """Connections to the test database that Postgres counts (None on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_idle_delivery_threads_are_ended_and_give_their_database_connections_back(
    receiver, endpoint_factory, client, settings
):
    from delivery.jobs import deliver_batch
    from delivery.threads import release_idle_delivery_threads, stop_delivery_threads

    stop_delivery_threads()  # earlier tests' threads: start from none
    settings.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = 10
    endpoint_factory(user_id="shop1")
    receiver.script("/hook", Reply(delay=1))
    for n in range(4):
        post_callback(client, "shop1", stk_body(f"ws_CO_idle_{n}"))
    ids = list(Delivery.objects.values_list("pk", flat=True))
    before = _database_backends()
    # given four deliveries in flight on four threads, each with its own connection
    assert deliver_batch(ids) == 4
    assert wait_for(lambda: len(receiver.requests_to("/hook")) == 4)
    busy = _database_backends()
    # then threads with work in flight are never ended
    assert release_idle_delivery_threads(0) is False
    assert drain_delivery_threads(timeout=10) == 0
    # nor threads that only just finished
    assert release_idle_delivery_threads(3600) is False
    assert len(_delivery_thread_names()) == 4
    # when they have been idle long enough, they end and close their connections
    assert release_idle_delivery_threads(0) is True
    assert _delivery_thread_names() == []
    if before is not None:
        assert busy >= before + 4
        assert wait_for(lambda: _database_backends() == before)
    # and the next batch starts new threads
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.DELIVERED}
    post_callback(client, "shop1", stk_body("ws_CO_idle_next"))
    next_id = Delivery.objects.exclude(pk__in=ids).values_list("pk", flat=True).get()
    assert deliver_batch([next_id]) == 1
    assert _delivery_thread_names() != []
    assert drain_delivery_threads(timeout=10) == 0
    assert Delivery.objects.get(pk=next_id).status == Delivery.Status.DELIVERED
    assert DeliveryAttempt.objects.count() == 5
