"""The dead-letter queue's writes: park a delivery that gave up, retry it, purge it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.lifecycle import reopen_dead

logger = logging.getLogger(__name__)


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
            delivery_id = DeadLetter.objects.values_list("delivery_id", flat=True).get(pk=dead_letter_id)
            if reopen_dead(delivery_id):
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
