"""Writes on deliveries that callers outside the engine make: create, retry now, release waiting ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db.models import QuerySet

from daraja.bulk import insert_rows
from delivery import lifecycle
from delivery.models import Delivery
from delivery.wakeup import wake_on_commit
from webhooks.models import Callback, Endpoint
from webhooks.priorities import PriorityDecision

logger = logging.getLogger(__name__)


def delivery_create(*, callback: Callback, endpoint: Endpoint, decision: PriorityDecision) -> Delivery:
    """Create the pending delivery of ``callback`` and wake the workers once the transaction commits.

    A paused endpoint's delivery is created but not claimed: it waits,
    pending, until the endpoint is resumed.
    """
    (delivery,) = deliveries_create([(callback, endpoint, decision)])
    return delivery


def deliveries_create(
    new: Sequence[tuple[Callback, Endpoint, PriorityDecision]],
) -> list[Delivery]:
    """``delivery_create`` for many callbacks in one multi-row INSERT (call inside a transaction)."""
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


def endpoint_release_waiting(endpoint: Endpoint) -> int:
    """Make every delivery of ``endpoint`` that waits (held, pending, retrying) due now, most urgent first.

    Called when an endpoint is resumed or its circuit closes. None is charged an attempt.
    """
    released = lifecycle.make_due(Delivery.objects.filter(endpoint=endpoint))
    if released:
        logger.info("▶️ %d waiting deliveries of %s queued", released, endpoint.user_id)
    return released
