"""Writes on deliveries: create, queue, retry now."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from daraja.bulk import insert_rows
from delivery.batching import delivery_gatherer
from delivery.models import Delivery
from delivery.queues import enqueue_delivery
from delivery.wakeup import wake_on_commit
from webhooks.models import Callback, Endpoint
from webhooks.priorities import PriorityDecision

logger = logging.getLogger(__name__)

# Deliveries a job may claim: waiting for their first attempt, a retry, or their endpoint.
WAITING_STATUSES = (Delivery.Status.PENDING, Delivery.Status.RETRYING, Delivery.Status.HELD)


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
    wake_on_commit(delivery.priority for delivery, (_, endpoint, _) in zip(deliveries, new) if endpoint.is_active)
    return deliveries


def delivery_enqueue_on_commit(
    delivery: Delivery, *, timeout_seconds: float, at: datetime | None = None
) -> None:
    """Queue the delivery's job (due now, or at ``at``) after the current transaction commits.

    Deliveries due now are gathered into batch jobs (``delivery.batching``).
    """
    delivery_id, priority = delivery.pk, delivery.priority
    # robust: the rows are committed whatever happens here; a failure is logged and the sweeper queues
    # the delivery, instead of reaching a caller that would take its committed callback for lost.
    if at is None:
        transaction.on_commit(
            lambda: delivery_gatherer.add(
                delivery_id=delivery_id, priority=priority, timeout_seconds=timeout_seconds
            ),
            robust=True,
        )
        return
    transaction.on_commit(
        lambda: enqueue_delivery(
            delivery_id=delivery_id, priority=priority, timeout_seconds=timeout_seconds, at=at
        ),
        robust=True,
    )


def deliveries_retry_now(deliveries: QuerySet[Delivery]) -> int:
    """Make waiting deliveries (pending or retrying) due now and queue them; returns how many.

    Delivered, dead and in-flight deliveries are left alone (dead ones go
    through the dead-letter queue's retry, which starts a new cycle).
    """
    waiting = [Delivery.Status.PENDING, Delivery.Status.RETRYING]
    queued = 0
    for delivery in deliveries.filter(status__in=waiting).select_related("endpoint"):
        with transaction.atomic():
            updated = Delivery.objects.filter(pk=delivery.pk, status__in=waiting).update(
                next_attempt_at=timezone.now(), updated_at=timezone.now()
            )
            if updated:
                delivery_enqueue_on_commit(delivery, timeout_seconds=delivery.endpoint.timeout_seconds)
                queued += 1
    logger.info("🔄 Retry now: %d deliveries queued", queued)
    return queued


def endpoint_release_waiting(endpoint: Endpoint) -> int:
    """Queue every delivery of ``endpoint`` that waits (held, pending, retrying), most urgent first.

    Called when an endpoint is resumed or its circuit closes. Held and
    retrying deliveries become due now; none is charged an attempt.
    """
    waiting = Delivery.objects.filter(endpoint=endpoint, status__in=WAITING_STATUSES).order_by(
        "-priority", "created_at"
    )
    released = 0
    for delivery in waiting.iterator():
        delivery_enqueue_on_commit(delivery, timeout_seconds=endpoint.timeout_seconds)
        released += 1
    if released:
        logger.info("▶️ %d waiting deliveries of %s queued", released, endpoint.user_id)
    return released
