"""The dead-letter queue's writes: resolve a letter for a retry, purge letters.

A letter is opened by ``delivery.lifecycle`` when a delivery gives up, and a
retry is driven by ``delivery.services.dead_letters_retry`` (it reopens the
delivery); this app only keeps the letters."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.utils import timezone

from deadletter.models import DeadLetter

logger = logging.getLogger(__name__)


def dead_letter_resolve_for_retry(dead_letter_id: int) -> int | None:
    """Resolve an open dead letter as retried; returns its delivery's id, or ``None`` if it was not open.

    Call inside the transaction that reopens the delivery
    (``delivery.services.dead_letters_retry``), so a letter is never
    resolved without its delivery going back in the queue. A letter
    resolved a moment ago, by another person say, gives ``None``.
    """
    now = timezone.now()
    resolved = DeadLetter.objects.filter(pk=dead_letter_id, resolved_at__isnull=True).update(
        resolved_at=now, resolution=DeadLetter.Resolution.RETRIED, updated_at=now
    )
    if not resolved:
        return None
    return DeadLetter.objects.values_list("delivery_id", flat=True).get(pk=dead_letter_id)


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
