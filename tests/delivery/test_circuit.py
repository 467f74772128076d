"""The circuit breaker in support's hands: try again now, dead-letter retry behind an open circuit,
a new URL closing the circuit, probes that use up no attempt and held rows without invented times."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.circuit import describe_circuit
from delivery.models import Circuit, CircuitState, Delivery, DeliveryAttempt
from delivery.services import dead_letters_retry
from delivery.try_now import endpoint_try_now
from tests.helpers import post_callback
from tests.support import Reply, run_worker
from webhooks.models import Endpoint
from webhooks.services import endpoint_create_or_update

pytestmark = pytest.mark.django_db(transaction=True)


def count(status: str) -> int:
    return Delivery.objects.filter(status=status).count()


@pytest.fixture
def open_circuit(client, receiver, endpoint_factory, settings):
    """shop1's circuit opened after two dead deliveries; a third callback is held behind it."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_COOLDOWN_SECONDS = 600  # no probe on its own during the test: people act
    endpoint = endpoint_factory(user_id="shop1", max_attempts=1)
    receiver.default = Reply(status=503)
    post_callback(client, "shop1")
    post_callback(client, "shop1")
    run_worker(until=lambda: count("dead") == 2)
    post_callback(client, "shop1")
    run_worker(until=lambda: count("held") == 1)
    endpoint.refresh_from_db()
    assert endpoint.circuit.state == CircuitState.OPEN
    return endpoint


def test_a_held_delivery_keeps_no_next_attempt_time(open_circuit):
    held = Delivery.objects.get(status="held")
    assert held.next_attempt_at is None
    assert held.cycle_attempt_count == 0


def test_try_again_now_while_the_shop_is_down_says_why_and_charges_no_attempt(open_circuit, receiver):
    result = endpoint_try_now(open_circuit)
    assert not result.answered
    assert "still no answer (The shop's app answered 503)" in result.message
    assert "Circuit open since" in result.message
    held = Delivery.objects.get(status="held")
    probe = DeliveryAttempt.objects.get(delivery=held)
    assert probe.outcome == DeliveryAttempt.Outcome.PROBE_FAILED
    # the probe was a real request, numbered, but it used up none of the delivery's single attempt
    assert (held.attempt_count, held.cycle_attempt_count, held.next_attempt_at) == (1, 0, None)
    open_circuit.refresh_from_db()
    assert open_circuit.circuit.failed_probes == 1
    assert len(receiver.requests_to("/hook")) == 3


def test_try_again_now_waits_at_most_its_own_timeout_for_a_hanging_shop(open_circuit, receiver, settings):
    settings.TRY_NOW_TIMEOUT_SECONDS = 0.5  # the endpoint's own timeout is 5 s
    receiver.default = Reply(status=200, delay=3)
    started = time.monotonic()
    result = endpoint_try_now(open_circuit)
    assert time.monotonic() - started < 2.5
    assert "still no answer (No answer within 0.5 s)" in result.message
    open_circuit.refresh_from_db()
    assert open_circuit.timeout_seconds == 5  # the cap was for that probe only
    assert Delivery.objects.get(status="held").cycle_attempt_count == 0


def test_retried_dead_letters_behind_an_open_circuit_are_delivered_once_the_shop_answers(
    open_circuit, receiver
):
    letters = list(DeadLetter.objects.values_list("pk", flat=True))
    assert dead_letters_retry(dead_letter_ids=letters) == 2
    run_worker(until=lambda: count("held") == 3)  # the circuit is still open: they wait, held
    receiver.default = Reply(status=200)
    result = endpoint_try_now(open_circuit)
    assert result.answered, result.message
    assert "it answered. Its circuit is closed" in result.message
    run_worker(until=lambda: count("delivered") == 3)
    open_circuit.refresh_from_db()
    assert (open_circuit.circuit.state, open_circuit.circuit.consecutive_failures) == (CircuitState.CLOSED, 0)


def test_try_again_now_on_a_paused_endpoint_points_to_resume(open_circuit):
    Endpoint.objects.filter(pk=open_circuit.pk).update(is_active=False)
    result = endpoint_try_now(open_circuit)
    assert not result.answered
    assert "shop1 is paused. Resume it" in result.message
    assert DeliveryAttempt.objects.filter(outcome="probe_failed").count() == 0


def test_a_new_url_closes_the_circuit_and_releases_the_held_deliveries(open_circuit, receiver):
    receiver.script("/new-hook", Reply(status=200))
    endpoint_create_or_update(user_id="shop1", url=receiver.url("/new-hook"))
    open_circuit.refresh_from_db()
    assert (open_circuit.circuit.state, open_circuit.circuit.consecutive_failures) == (CircuitState.CLOSED, 0)
    assert count("held") == 0
    run_worker(until=lambda: count("delivered") == 1)
    assert len(receiver.requests_to("/new-hook")) == 1


def test_the_same_url_saved_again_leaves_the_circuit_open(open_circuit):
    endpoint_create_or_update(user_id="shop1", url=open_circuit.url, max_attempts=3)
    open_circuit.refresh_from_db()
    assert open_circuit.circuit.state == CircuitState.OPEN
    assert count("held") == 1


def test_a_circuit_open_past_the_window_pauses_and_its_deliveries_stay_held_not_dead(open_circuit, settings):
    settings.CIRCUIT_AUTO_PAUSE_HOURS = 1
    Circuit.objects.filter(pk=open_circuit.pk).update(opened_at=timezone.now() - timedelta(hours=2))
    endpoint_try_now(open_circuit)
    open_circuit.refresh_from_db()
    assert not open_circuit.is_active
    held = Delivery.objects.get(status="held")
    assert held.cycle_attempt_count == 0
    assert DeadLetter.objects.filter(delivery=held).count() == 0


# --- the sentence support reads ----------------------------------------------------------------


def test_describe_circuit_in_words(settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 5
    opened = timezone.now().replace(microsecond=0)
    endpoint = Endpoint(user_id="shop1")
    Circuit(
        endpoint=endpoint,
        state=CircuitState.OPEN,
        opened_at=opened,
        next_probe_at=opened + timedelta(seconds=30),
        failed_probes=2,
    )
    text = describe_circuit(endpoint, held=4)
    assert text.startswith("Circuit open since ")
    assert "Next probe " in text and "(after 2 failed probes)" in text
    assert text.endswith("4 deliveries held.")
    endpoint.is_active, endpoint.paused_reason, endpoint.paused_at = False, "paused by hand", opened
    assert describe_circuit(endpoint, held=1).startswith("Paused since ")
    assert "(paused by hand)" in describe_circuit(endpoint, held=1)
    assert describe_circuit(endpoint, held=1).endswith("1 delivery held.")
    closed = Endpoint(user_id="shop2")
    Circuit(endpoint=closed, consecutive_failures=2)
    assert describe_circuit(closed) == "Delivering; its last 2 attempts failed (the circuit opens at 5)."
    healthy = Endpoint(user_id="shop3")
    Circuit(endpoint=healthy)
    assert describe_circuit(healthy, held=0) == "Delivering."
    once = Endpoint(user_id="shop4")
    Circuit(endpoint=once, consecutive_failures=1)
    assert describe_circuit(once) == "Delivering; its last attempt failed (the circuit opens at 5)."
