"""Writes on deliveries made outside the engine: create, retry now, release held ones, retry dead letters."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from daraja.core.bulk import insert_rows
from deadletter.services import dead_letter_resolve_for_retry
from delivery import lifecycle
from delivery.errors import error_summary_of
from delivery.models import CircuitState, Delivery, DeliveryAttempt
from delivery.priority import PriorityDecision
from delivery.wakeup import wake_on_commit

logger = logging.getLogger(__name__)


def delivery_create(*, callback, endpoint, decision: PriorityDecision) -> Delivery:
    """Create the pending delivery of ``callback`` and wake the workers once the transaction commits.

    A paused endpoint's delivery is created but not claimed: it waits,
    pending, until the endpoint is resumed.
    """
    (delivery,) = deliveries_create([(callback, endpoint, decision)])
    return delivery


def deliveries_create(
    new: Sequence[tuple],
) -> list[Delivery]:
    """``delivery_create`` for many (callback, endpoint, decision) in one multi-row INSERT (call inside a
    transaction)."""
    deliveries = insert_rows(
        Delivery,
        [
            Delivery(
                callback=callback,
                endpoint=endpoint,
                priority=decision.priority,
                priority_reason=decision.reason,
            )
            for callback, endpoint, decision in new
        ],
    )
    wake_on_commit(
        delivery.priority
        for delivery, (_, endpoint, _) in zip(deliveries, new, strict=True)
        if endpoint.is_active
    )
    return deliveries


def deliveries_retry_now(deliveries: QuerySet[Delivery]) -> int:
    """Make waiting deliveries (pending or retrying) due now and wake the workers; returns how many.

    Delivered, dead and in-flight deliveries are left alone (dead ones go
    through the dead-letter queue's retry, which starts a new cycle); so are
    held ones, which wait for their endpoint.
    """
    queued = lifecycle.make_due(deliveries, statuses=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
    logger.info("🔄 Retry now: %d deliveries queued", queued)
    return queued


def endpoint_release_waiting(endpoint) -> int:
    """Make every delivery of ``endpoint`` that waits (held, pending, retrying) due now, most urgent first.

    Called when an endpoint is resumed or its circuit closes. None is charged an attempt.
    """
    released = lifecycle.make_due(Delivery.objects.filter(endpoint=endpoint))
    if released:
        logger.info("▶️ %d waiting deliveries of %s queued", released, endpoint.user_id)
    return released


@dataclass(frozen=True)
class TryNowResult:
    """What "try again now" came to: ``answered`` when the shop's app took the probe."""

    answered: bool
    message: str
    released: int = 0


def endpoint_try_now(endpoint) -> TryNowResult:
    """Probe an endpoint whose circuit is open at once; when its app answers, release every held delivery.

    The probe is the endpoint's most urgent waiting delivery, sent now in
    this process through the engine (same signing, gates and recording),
    waiting at most ``TRY_NOW_TIMEOUT_SECONDS`` for an answer (a person is
    waiting on the page; the web worker's own timeout is longer); a failed
    probe uses up none of its attempts. A paused endpoint is not
    probed (resuming it is the way back); a closed circuit only makes any
    held delivery due. With nothing waiting, the next delivery goes as the probe.
    """
    from delivery import engine  # the engine imports this module
    from delivery.circuit import circuit_of, circuit_probe_due_now, describe_circuit

    endpoint.refresh_from_db()
    circuit = circuit_of(endpoint)
    if not endpoint.is_active:
        return TryNowResult(
            False, f"Not tried: {endpoint.user_id} is paused. Resume it to send its held deliveries."
        )
    if circuit.state != CircuitState.OPEN:
        released = endpoint_release_waiting(endpoint)
        return TryNowResult(
            True, f"Not needed: the circuit of {endpoint.user_id} is closed, it is delivering.", released
        )
    circuit_probe_due_now(endpoint)
    probe = (
        Delivery.objects.filter(endpoint=endpoint, status__in=lifecycle.WAITING_STATUSES)
        .order_by("-priority", "created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if probe is None:
        return TryNowResult(
            False,
            f"Nothing of {endpoint.user_id} is waiting: its next delivery goes out as the probe at once.",
        )
    outcome = engine.deliver_one(probe, timeout_cap=settings.TRY_NOW_TIMEOUT_SECONDS)
    endpoint.refresh_from_db()
    if circuit_of(endpoint).state == CircuitState.CLOSED:
        released = Delivery.objects.filter(
            endpoint=endpoint, status__in=(*lifecycle.CLAIMABLE_STATUSES, Delivery.Status.DELIVERING)
        ).count()
        return TryNowResult(
            True,
            f"Tried {endpoint.user_id} again: it answered. Its circuit is closed and its waiting "
            f"deliveries are being sent ({released} to go).",
            released,
        )
    attempt = DeliveryAttempt.objects.filter(delivery_id=probe).order_by("-attempt_number").first()
    reason = error_summary_of(attempt) if attempt is not None and outcome != "held" else "no probe was sent"
    return TryNowResult(
        False, f"Tried {endpoint.user_id} again: still no answer ({reason}). {describe_circuit(endpoint)}"
    )


def dead_letters_retry(*, dead_letter_ids: Iterable[int]) -> int:
    """Start a fresh attempt cycle for each open dead letter; returns how many were queued.

    The delivery keeps its ``webhook-id`` (so the receiver can de-duplicate),
    goes back to pending with a new cycle of the endpoint's max attempts,
    and is queued at its priority after commit. Letters already resolved —
    by another person a moment ago, say — are skipped, not retried twice.
    """
    retried = 0
    for dead_letter_id in dead_letter_ids:
        with transaction.atomic():
            delivery_id = dead_letter_resolve_for_retry(dead_letter_id)
            if delivery_id is not None and lifecycle.reopen_dead(delivery_id):
                retried += 1
    logger.info("🔁 Dead-letter retry: %d deliveries back in the queue", retried)
    return retried
