"""Writes on deliveries made outside the engine: create, retry now, release held ones, retry dead letters."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import QuerySet

from daraja.core.bulk import insert_rows
from deadletter.services import dead_letter_resolve_for_retry
from delivery import lifecycle
from delivery.models import Delivery
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
