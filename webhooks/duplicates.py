"""De-duplication: the same M-Pesa callback arriving again is acknowledged, counted, not re-delivered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from webhooks.models import Callback
from webhooks.mpesa import CallbackFacts, CallbackKind


class RepeatKey(NamedTuple):
    """What two callbacks share when one repeats the other (the columns as stored)."""

    merchant_id: int
    kind: str
    correlation_id: str
    result_code: str


def repeat_key(merchant_id: int, facts: CallbackFacts) -> RepeatKey | None:
    """The key a repeat of this callback would have, or ``None`` when it is never taken as a repeat.

    A repeat has the same kind, the same correlation id of that kind and the
    same result code. A different result for the same id (a late success
    after a timeout notice, say) is news, not a repeat. Unknown shapes and
    callbacks without a correlation id are never treated as repeats.
    """
    if facts.kind is CallbackKind.UNKNOWN or not facts.correlation_id:
        return None
    return RepeatKey(merchant_id, facts.kind.value, facts.correlation_id[:128], facts.result_code[:32])


def find_originals(keys: Iterable[RepeatKey]) -> dict[RepeatKey, int]:
    """The earliest callback (its id) received within ``DUPLICATE_WINDOW_HOURS`` for each key that has one.

    One query for all the keys: a ``UNION ALL`` of one branch per key, each
    the index lookup the single-callback check made (``callback_duplicate_idx``:
    merchant, kind, correlation id). A shorter ``OR`` or ``IN`` of the ids lets
    the planner, with statistics that lag a burst of inserts, pick a scan of
    the merchant's whole window instead.
    """
    keys = set(keys)
    if not keys:
        return {}
    since = timezone.now() - timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    branches = [
        Callback.objects.filter(**key._asdict(), received_at__gte=since)
        .order_by()
        .values_list("received_at", "pk", *RepeatKey._fields)
        for key in keys
    ]
    rows = branches[0].union(*branches[1:], all=True) if len(branches) > 1 else branches[0]
    earliest: dict[RepeatKey, tuple] = {}
    for received_at, pk, *fields in rows:
        key = RepeatKey(*fields)
        if key in keys and (key not in earliest or (received_at, pk) < earliest[key]):
            earliest[key] = (received_at, pk)
    return {key: pk for key, (_, pk) in earliest.items()}


def record_duplicates(arrivals: Counter[int]) -> None:
    """Count repeat arrivals on their originals (``{callback id: repeats}``; atomic increments)."""
    now = timezone.now()
    for callback_id, repeats in sorted(arrivals.items()):  # one order for all: no deadlocks between groups
        Callback.objects.filter(pk=callback_id).update(
            duplicate_count=F("duplicate_count") + repeats, last_duplicate_at=now, updated_at=now
        )
