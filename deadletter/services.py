"""The dead-letter queue's writes: park a delivery that gave up, retry it, purge it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.models import Delivery
from delivery.services import delivery_enqueue_on_commit

logger = logging.getLogger(__name__)


def dead_letter_create(
    *, delivery: Delivery, error_category: str, error_message: str, response_status: int | None
) -> DeadLetter:
    """Record that ``delivery`` gave up (call inside the transaction that marks it dead)."""
    return DeadLetter.objects.create(
        delivery=delivery,
        endpoint_id=delivery.endpoint_id,
        callback_id=delivery.callback_id,
        error_category=error_category,
        last_error=error_message,
        last_response_status=response_status,
        attempts=delivery.cycle_attempt_count,
        dead_at=timezone.now(),
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
            now = timezone.now()
            resolved = DeadLetter.objects.filter(pk=dead_letter_id, resolved_at__isnull=True).update(
                resolved_at=now, resolution=DeadLetter.Resolution.RETRIED, updated_at=now
            )
            if not resolved:
                continue
            dead_letter = DeadLetter.objects.select_related("delivery", "endpoint").get(pk=dead_letter_id)
            delivery = dead_letter.delivery
            reopened = Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.DEAD).update(
                status=Delivery.Status.PENDING,
                cycle=delivery.cycle + 1,
                cycle_attempt_count=0,
                next_attempt_at=None,
                updated_at=now,
            )
            if not reopened:
                continue
            if dead_letter.endpoint.is_active:
                delivery_enqueue_on_commit(delivery, timeout_seconds=dead_letter.endpoint.timeout_seconds)
            retried += 1
    logger.info("🔁 Dead-letter retry: %d deliveries back in the queue", retried)
    return retried


def dead_letters_purge(*, dead_letter_ids: Iterable[int]) -> int:
    """Take open dead letters out of the queue for good; returns how many.

    The rows stay, resolved as purged, so the history of what was given up
    on (and by whom, in the admin log) is never lost; the delivery stays dead.
    """
    now = timezone.now()
    purged = DeadLetter.objects.filter(pk__in=list(dead_letter_ids), resolved_at__isnull=True).update(
        resolved_at=now, resolution=DeadLetter.Resolution.PURGED, updated_at=now
    )
    logger.info("🗑️ Dead-letter purge: %d removed from the queue", purged)
    return purged
