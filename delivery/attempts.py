"""A delivery job's attempt: claim the delivery, pass the gates, send, feed the circuit breaker."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from delivery.circuit import Gate, circuit_gate, circuit_record_failure, circuit_record_success
from delivery.concurrency import acquire_slot, release_slot
from delivery.models import Delivery, DeliveryAttempt
from delivery.sending import attempt_send, endpoint_retry_settings
from delivery.services import WAITING_STATUSES, delivery_enqueue_on_commit, endpoint_release_waiting

logger = logging.getLogger(__name__)


def delivery_attempt(*, delivery_id: int) -> str:
    """Make the next attempt of a delivery if it is waiting; returns what came of it.

    1. Claim: a conditional update (pending/retrying/held → delivering), so
       two jobs for the same delivery never send the same attempt; a
       delivery that is delivered, dead or in flight is left alone (``"skipped"``).
    2. A paused endpoint, or an open circuit when this is not the probe,
       holds the delivery without charging an attempt (``"held"``).
    3. Over the endpoint's concurrency cap, the delivery is put back and
       queued again shortly, without charging an attempt (``"deferred"``).
    4. Otherwise one attempt is sent and recorded, and its result feeds the
       endpoint's circuit breaker.
    """
    now = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status__in=WAITING_STATUSES).update(
        status=Delivery.Status.DELIVERING, started_delivering_at=now, updated_at=now
    )
    if not claimed:
        logger.info(
            "Delivery %s is not waiting (delivered, dead, in flight or gone): nothing to do", delivery_id
        )
        return "skipped"

    # The parsed payload and headers are for people (admin, API); sending needs the raw body and the facts.
    delivery = (
        Delivery.objects.select_related("endpoint", "callback")
        .defer("callback__payload", "callback__headers")
        .get(pk=delivery_id)
    )
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _hold(delivery, f"endpoint {endpoint.user_id} is paused")
        return "held"
    gate = circuit_gate(endpoint, attempt_timeout=endpoint.timeout_seconds)
    if gate is Gate.HOLD:
        _hold(delivery, f"circuit of {endpoint.user_id} is open")
        return "held"

    slot = acquire_slot(endpoint.pk, lifetime_seconds=endpoint.timeout_seconds + 30)
    if slot is None:
        _defer(delivery)
        return "deferred"
    try:
        outcome, _ = attempt_send(
            delivery,
            url=endpoint.url,
            connect_timeout=min(settings.DELIVERY_CONNECT_TIMEOUT, endpoint.timeout_seconds),
            total_timeout=endpoint.timeout_seconds,
            retry=endpoint_retry_settings(endpoint),
        )
    finally:
        release_slot(endpoint.pk, slot)

    if outcome == DeliveryAttempt.Outcome.DELIVERED:
        if circuit_record_success(endpoint):
            endpoint_release_waiting(endpoint)
    elif outcome != DeliveryAttempt.Outcome.HELD:
        circuit_record_failure(endpoint, was_probe=gate is Gate.PROBE)
    return outcome


def _hold(delivery: Delivery, why: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.HELD, started_delivering_at=None, updated_at=timezone.now()
    )
    logger.info("⏸️ Delivery %s held: %s", delivery.pk, why)


def _defer(delivery: Delivery) -> None:
    """Put a delivery back (as it was) and queue it again in a moment: the endpoint is at its cap."""
    at = timezone.now() + timedelta(seconds=settings.DELIVERY_DEFER_SECONDS)
    status = Delivery.Status.RETRYING if delivery.cycle_attempt_count else Delivery.Status.PENDING
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, next_attempt_at=at, started_delivering_at=None, updated_at=timezone.now()
    )
    delivery_enqueue_on_commit(delivery, timeout_seconds=delivery.endpoint.timeout_seconds, at=at)
    logger.info("Delivery %s deferred: %s is at its concurrency cap", delivery.pk, delivery.endpoint.user_id)


def endpoint_probe(*, endpoint_id: int) -> str:
    """Try the most urgent held delivery of an endpoint whose circuit is open (its probe job).

    Without this, an endpoint with no new traffic would keep its held
    deliveries forever; with no held delivery, the next new one probes.
    """
    held = (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Delivery.Status.HELD)
        .order_by("-priority", "created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if held is None:
        return "nothing held"
    return delivery_attempt(delivery_id=held)
