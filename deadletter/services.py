"""The dead-letter queue's writes: open letters, resolve one for a retry, purge letters.

Letters are opened when ``delivery.lifecycle`` records deliveries that gave up; a
retry is driven by ``delivery.services.dead_letters_retry`` (it reopens the
delivery); this app only keeps the letters."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from deadletter.models import DeadLetter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GaveUp:
    """A delivery that gave up, as the dead letter opened for it records it."""

    delivery_id: int
    endpoint_id: int
    callback_id: int
    error_category: str
    last_error: str
    last_response_status: int | None
    attempts: int
    dead_at: datetime


def dead_letters_open(gave_up: Sequence[GaveUp]) -> None:
    """Open a dead letter for each delivery that gave up, in one INSERT.

    Call inside the transaction that records the deliveries' death
    (``delivery.lifecycle.record_attempts``), so a dead delivery always has
    its open letter and a rolled-back flush leaves none.
    """
    if gave_up:
        DeadLetter.objects.bulk_create([DeadLetter(**vars(letter)) for letter in gave_up])


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
