"""The sweeper against a real Redis, real RQ workers and a real receiver: what is lost comes back, once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from delivery.models import Circuit, CircuitState, Delivery
from delivery.priority import Priority
from delivery.queues import delivery_queue, delivery_queues, redis_connection
from delivery.sweeper import GATE_KEY, LOCK_KEY, SweepResult, deliveries_sweep, sweeper_totals
from delivery.worker import DeliveryWorker
from tests.helpers import post_callback
from tests.support import free_port, run_worker
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def sweeper_settings(settings):
    settings.SWEEP_GRACE_SECONDS = 60
    settings.SWEEP_STUCK_MARGIN_SECONDS = 90
    settings.SWEEP_INTERVAL_SECONDS = 30
    return settings


def waiting_jobs() -> int:
    return sum(queue.count for queue in delivery_queues())


def receive(client, user_id: str = "shop1") -> Delivery:
    """A callback received the normal way (its job queued after commit)."""
    assert post_callback(client, user_id).status_code == 200
    return Delivery.objects.order_by("-pk").first()


def lose_jobs() -> None:
    redis_connection().flushdb()


def age(delivery: Delivery, by: timedelta = LONG_AGO, **fields) -> None:
    """Pretend the delivery's last change (and its due time, if it has one) was ``by`` ago."""
    then = timezone.now() - by
    if delivery.next_attempt_at is not None or fields.get("status") == Delivery.Status.RETRYING:
        fields.setdefault("next_attempt_at", then)
    Delivery.objects.filter(pk=delivery.pk).update(updated_at=then, **fields)


def test_a_due_delivery_whose_job_was_lost_is_queued_again_and_delivered_once(
    client, receiver, endpoint_factory
):
    # given a pending delivery whose job Redis lost five minutes ago
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    lose_jobs()
    age(delivery)
    # when
    result = deliveries_sweep()
    run_worker()
    # then
    assert (result.requeued, result.unstuck, result.skipped) == (1, 0, False)
    [request] = receiver.requests_to("/hook")
    assert request.headers["webhook-id"] == delivery.webhook_id
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert sweeper_totals() == {"sweeps": 1, "requeued": 1, "unstuck": 0, "probes": 0}


def test_a_second_sweep_right_after_does_not_queue_it_again(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    lose_jobs()
    age(delivery)
    assert deliveries_sweep().requeued == 1
    assert deliveries_sweep().requeued == 0
    assert waiting_jobs() == 1


def test_a_delivery_due_for_less_than_the_grace_period_is_left_alone(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    lose_jobs()
    age(delivery, by=timedelta(seconds=30))
    assert deliveries_sweep().requeued == 0
    assert waiting_jobs() == 0


def test_a_drain_already_waiting_in_its_queue_is_not_doubled(client, endpoint_factory):
    # given a delivery due long ago whose drain job is still waiting behind a backlog
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    assert waiting_jobs() == 1
    age(delivery, by=timedelta(minutes=10))
    # when
    result = deliveries_sweep()
    # then nothing more is queued
    assert result.requeued == 0
    assert waiting_jobs() == 1


def test_a_retry_whose_wake_up_was_lost_is_woken_once_past_the_grace_period(
    client, receiver, endpoint_factory
):
    # given a retry that was due five minutes ago, and Redis lost its scheduled wake-up
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    age(delivery, status=Delivery.Status.RETRYING, cycle_attempt_count=1, attempt_count=1)
    lose_jobs()
    assert ScheduledJobRegistry(queue=delivery_queue(delivery.priority)).count == 0
    # when
    assert deliveries_sweep().requeued == 1
    run_worker()
    # then it is delivered, as attempt 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (Delivery.Status.DELIVERED, 2)
    assert [r.headers["X-Daraja-Attempt"] for r in receiver.requests_to("/hook")] == ["2"]


@pytest.mark.parametrize(
    ("attempts_before", "put_back_as"),
    [(0, Delivery.Status.PENDING), (1, Delivery.Status.RETRYING)],
)
def test_a_delivery_stuck_delivering_after_its_worker_died_is_put_back_without_charging_an_attempt(
    client, receiver, endpoint_factory, attempts_before, put_back_as
):
    # given a delivery claimed 5 s + 90 s + 1 s ago by a worker that died (timeout 5 s, margin 90 s)
    endpoint_factory(user_id="shop1", timeout_seconds=5)
    delivery = receive(client)
    lose_jobs()
    started = timezone.now() - timedelta(seconds=96)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.DELIVERING,
        started_delivering_at=started,
        cycle_attempt_count=attempts_before,
        attempt_count=attempts_before,
    )
    # when
    result = deliveries_sweep()
    # then it waits again, due now, queued, no attempt charged
    assert (result.unstuck, result.requeued) == (1, 0)
    delivery.refresh_from_db()
    assert delivery.status == put_back_as
    assert (delivery.attempt_count, delivery.started_delivering_at) == (attempts_before, None)
    assert waiting_jobs() == 1
    # and a worker delivers it, with the same webhook-id
    run_worker()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.attempt_count == attempts_before + 1
    [request] = receiver.requests_to("/hook")
    assert request.headers["webhook-id"] == delivery.webhook_id


def test_a_delivery_delivering_within_its_timeout_plus_margin_is_left_alone(client, endpoint_factory):
    endpoint_factory(user_id="shop1", timeout_seconds=30)
    delivery = receive(client)
    lose_jobs()
    started = timezone.now() - timedelta(seconds=100)  # less than 30 s + 90 s ago
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.DELIVERING, started_delivering_at=started
    )
    assert deliveries_sweep().unstuck == 0
    delivery.refresh_from_db()
    assert (delivery.status, delivery.started_delivering_at) == (Delivery.Status.DELIVERING, started)
    assert waiting_jobs() == 0


def test_a_paused_endpoints_deliveries_wait_for_the_resume(client, endpoint_factory):
    # given a paused endpoint with a pending delivery and one whose worker died
    endpoint = endpoint_factory(user_id="shop1")
    waiting = receive(client)
    stuck = receive(client)
    lose_jobs()
    Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    age(waiting)
    Delivery.objects.filter(pk=stuck.pk).update(
        status=Delivery.Status.DELIVERING, started_delivering_at=timezone.now() - timedelta(hours=1)
    )
    # when
    result = deliveries_sweep()
    # then the stuck one is put back, nothing is queued: resuming the endpoint queues them
    assert (result.unstuck, result.requeued) == (1, 0)
    assert waiting_jobs() == 0
    stuck.refresh_from_db()
    assert stuck.status == Delivery.Status.PENDING


def test_held_deliveries_are_queued_when_their_circuit_is_closed_and_wait_while_it_is_open(
    client, endpoint_factory
):
    closed = endpoint_factory(user_id="shop1")
    opened = endpoint_factory(user_id="shop2")
    Circuit.objects.filter(pk=opened.pk).update(
        state=CircuitState.OPEN, opened_at=timezone.now(), next_probe_at=timezone.now() + timedelta(minutes=1)
    )
    released = receive(client, closed.user_id)
    held = receive(client, opened.user_id)
    lose_jobs()
    for delivery in (released, held):
        age(delivery, status=Delivery.Status.HELD)
    result = deliveries_sweep()
    assert (result.requeued, result.probes) == (1, 0)
    [job_id] = delivery_queue(released.priority).get_job_ids()
    assert Job.fetch(job_id, connection=redis_connection()).args == (released.priority,)
    released.refresh_from_db()
    held.refresh_from_db()
    assert (released.status, held.status) == (Delivery.Status.PENDING, Delivery.Status.HELD)


def test_an_open_circuit_whose_probe_was_lost_gets_one_again(client, receiver, endpoint_factory):
    # given an open circuit whose probe was due five minutes ago, with a delivery held behind it
    endpoint = endpoint_factory(user_id="shop1")
    Circuit.objects.filter(pk=endpoint.pk).update(
        state=CircuitState.OPEN,
        opened_at=timezone.now() - timedelta(minutes=10),
        next_probe_at=timezone.now() - LONG_AGO,
    )
    held = receive(client)
    lose_jobs()
    age(held, status=Delivery.Status.HELD)
    # when
    result = deliveries_sweep()
    run_worker()
    # then the probe went out, delivered the held delivery and closed the circuit
    assert (result.probes, result.requeued) == (1, 0)
    held.refresh_from_db()
    endpoint.refresh_from_db()
    assert held.status == Delivery.Status.DELIVERED
    assert endpoint.circuit.state == CircuitState.CLOSED
    assert len(receiver.requests_to("/hook")) == 1


def test_delivered_and_dead_deliveries_are_never_touched(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    delivered = receive(client)
    dead = receive(client)
    lose_jobs()
    age(delivered, status=Delivery.Status.DELIVERED, delivered_at=timezone.now() - LONG_AGO)
    age(dead, status=Delivery.Status.DEAD)
    assert deliveries_sweep() == SweepResult()
    assert waiting_jobs() == 0


def test_a_sweep_while_another_runs_does_nothing(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    delivery = receive(client)
    lose_jobs()
    age(delivery)
    other = redis_connection().lock(LOCK_KEY, timeout=30)
    assert other.acquire(blocking=False)
    try:
        assert deliveries_sweep().skipped is True
        assert waiting_jobs() == 0
    finally:
        other.release()
    assert deliveries_sweep().requeued == 1


def test_a_callback_received_while_redis_was_down_is_delivered_by_the_sweep_once_it_is_back(
    client, receiver, endpoint_factory, settings, redis_url
):
    # given Redis unreachable when M-Pesa calls
    endpoint_factory(user_id="shop1")
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    response = post_callback(client, "shop1")
    # then M-Pesa still got its 200 and the delivery waits in the database
    assert response.status_code == 200
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    # when Redis is back and the delivery has waited past the grace period
    settings.REDIS_URL = redis_url
    assert waiting_jobs() == 0
    age(delivery)
    deliveries_sweep()
    run_worker()
    # then it is delivered
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert len(receiver.requests_to("/hook")) == 1


def worker(name: str) -> DeliveryWorker:
    made = DeliveryWorker(delivery_queues(), connection=redis_connection(), name=name)
    made.register_birth()
    return made


def test_one_sweep_is_queued_per_interval_however_many_workers_run_maintenance():
    first, second = worker("w1"), worker("w2")
    first.run_maintenance_tasks()
    second.run_maintenance_tasks()
    first.run_maintenance_tasks()
    urgent = delivery_queue(Priority.URGENT)
    [job_id] = urgent.get_job_ids()
    assert Job.fetch(job_id, connection=redis_connection()).func_name == "delivery.sweeper.sweep_job"
    assert 0 < redis_connection().pttl(GATE_KEY) <= 30_000
    # when the interval has passed (the gate expired), the next maintenance queues the next sweep
    redis_connection().delete(GATE_KEY)
    second.run_maintenance_tasks()
    assert urgent.count == 2


def test_burst_workers_queue_no_sweep(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    receive(client)
    run_worker()
    assert not redis_connection().exists(GATE_KEY)


def test_a_worker_forgotten_by_a_flush_registers_again_at_its_next_maintenance():
    from rq import Worker

    made = worker("w1")
    lose_jobs()
    made.heartbeat()  # recreates a partial hash, as a live worker does after a flush
    assert Worker.count(connection=redis_connection()) == 0
    made.run_maintenance_tasks()
    assert Worker.count(connection=redis_connection()) == 1
