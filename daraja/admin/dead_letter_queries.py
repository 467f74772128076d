"""Reads the support admin needs beyond the apps' selectors: finding rows by the ids people quote,
delivery outcomes over time, and how fast the dead-letter queue grows.

Every function here is a plain read; the admin pages and the dashboard call them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from deadletter.models import DeadLetter
from deadletter.selectors import open_dead_letters
from delivery.models import Delivery, DeliveryAttempt
from webhooks.models import Endpoint, Merchant, ValidationExchange
from webhooks.selectors import callbacks_matching

FAILED_OUTCOMES = (DeliveryAttempt.Outcome.RETRY_SCHEDULED, DeliveryAttempt.Outcome.DEAD_LETTERED)


# A search names a payment, a delivery or a user: more matches than this are not a search any more.
SEARCH_MATCH_LIMIT = 1000


def _row_number(term: str) -> int | None:
    """``term`` as a row number, or ``None`` (not digits, or too long for a 64-bit id column)."""
    return int(term) if term.isascii() and term.isdigit() and len(term) <= 18 else None


def callbacks_quoted(term: str) -> list[int]:
    """Ids of the callbacks (newest first, at most ``SEARCH_MATCH_LIMIT``) that ``term`` names
    (``webhooks.selectors.callbacks_matching``), and the callback of the C2B validation whose
    webhook id ``term`` is."""
    quoted = list(callbacks_matching(term).values_list("pk", flat=True)[:SEARCH_MATCH_LIMIT])
    validation = ValidationExchange.objects.filter(webhook_id=term).values_list("callback_id", flat=True)
    return quoted + list(validation[:1])


def deliveries_quoted(term: str) -> QuerySet[Delivery]:
    """Deliveries named by their webhook id (``msg_…``) or their number."""
    condition = Q(webhook_id=term)
    if _row_number(term) is not None:
        condition |= Q(pk=_row_number(term))
    return Delivery.objects.filter(condition)


def quoted_ids_condition(term: str, *, callback_field: str, delivery_field: str | None) -> Q:
    """A condition matching rows about what ``term`` names, exactly.

    ``term`` may be a payment id (see ``callbacks_quoted``), a webhook id or
    delivery number, a user id, or the row's own number. ``callback_field``
    and ``delivery_field`` are the model's paths to its callback id and
    delivery id (``None`` when the model is the callback itself). The ids are
    looked up first, each through an index, so the list query filters on plain
    id lists instead of scanning the table for an OR of sub-queries.
    """
    term = term.strip()
    if not term:
        return Q()
    delivery_rows = list(deliveries_quoted(term).values_list("pk", "callback_id")[:SEARCH_MATCH_LIMIT])
    callback_ids = callbacks_quoted(term)
    if delivery_field is None:
        callback_ids += [callback_id for _, callback_id in delivery_rows]
        condition = Q(pk__in=callback_ids)
        # A callback belongs to its merchant; the other rows to one of the merchant's destinations.
        condition |= Q(
            merchant_id__in=list(Merchant.objects.filter(user_id=term).values_list("pk", flat=True))
        )
    else:
        condition = Q(**{f"{callback_field}__in": callback_ids}) | Q(
            **{f"{delivery_field}__in": [pk for pk, _ in delivery_rows]}
        )
        condition |= Q(
            endpoint_id__in=list(Endpoint.objects.filter(user_id=term).values_list("pk", flat=True))
        )
    if _row_number(term) is not None:
        condition |= Q(pk=_row_number(term))
    return condition


@dataclass(frozen=True)
class AttemptStats:
    """Delivery attempts over a window: how many succeeded, how many failed, the success rate."""

    delivered: int
    failed: int

    @property
    def total(self) -> int:
        return self.delivered + self.failed

    @property
    def success_rate(self) -> float | None:
        """Delivered attempts as a percentage of attempts that had an outcome; ``None`` with none."""
        return round(100 * self.delivered / self.total, 1) if self.total else None


@dataclass(frozen=True)
class HourlyPoint:
    hour: datetime
    delivered: int
    failed: int


def attempt_activity(
    *, hours: int = 24, now: datetime | None = None
) -> tuple[AttemptStats, list[HourlyPoint]]:
    """Attempts over the last hour (delivered, failed), and per clock hour for the last ``hours``
    hours (oldest first, gaps as zeros).

    One pass over the window's attempts with filtered counts: truncating each row's time in
    SQL would cost a function call per row (a Python one on SQLite).
    """
    now = now or timezone.now()
    last_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    starts = [last_hour - timedelta(hours=hours - 1 - index) for index in range(hours)]
    delivered, failed = Q(outcome=DeliveryAttempt.Outcome.DELIVERED), Q(outcome__in=FAILED_OUTCOMES)
    recent = Q(started_at__gte=now - timedelta(hours=1))
    counts = {
        "delivered_recent": Count("id", filter=recent & delivered),
        "failed_recent": Count("id", filter=recent & failed),
    }
    for index, start in enumerate(starts):
        in_hour = Q(started_at__gte=start, started_at__lt=start + timedelta(hours=1))
        counts[f"delivered_{index}"] = Count("id", filter=in_hour & delivered)
        counts[f"failed_{index}"] = Count("id", filter=in_hour & failed)
    since = min(starts[0], now - timedelta(hours=1))
    totals = DeliveryAttempt.objects.filter(started_at__gte=since).aggregate(**counts)
    stats = AttemptStats(delivered=totals["delivered_recent"], failed=totals["failed_recent"])
    points = [
        HourlyPoint(hour=start, delivered=totals[f"delivered_{index}"], failed=totals[f"failed_{index}"])
        for index, start in enumerate(starts)
    ]
    return stats, points


def dead_letters_since(since: datetime) -> int:
    """Dead letters created since ``since`` (open or already resolved): how fast the queue fills."""
    return DeadLetter.objects.filter(dead_at__gte=since).count()


@dataclass(frozen=True)
class DeadLetterHealth:
    """How full the dead-letter queue is and how fast it fills, with the warnings that follow."""

    open_count: int
    last_hour: int
    threshold: int
    growth_threshold: int

    @property
    def warnings(self) -> list[str]:
        found = []
        if self.open_count > self.threshold:
            found.append(
                f"The dead-letter queue holds {self.open_count} deliveries "
                f"(warning threshold: {self.threshold}). Open the failure analysis to see why."
            )
        if self.last_hour >= self.growth_threshold:
            found.append(
                f"{self.last_hour} deliveries gave up in the last hour: the dead-letter queue is "
                f"growing fast (warning at {self.growth_threshold} an hour)."
            )
        return found


def dead_letter_health() -> DeadLetterHealth:
    """Open dead letters and those of the last hour, against ``DEADLETTER_WARNING_THRESHOLD`` and
    ``DEADLETTER_GROWTH_WARNING_PER_HOUR``."""
    return DeadLetterHealth(
        open_count=open_dead_letters().count(),
        last_hour=dead_letters_since(timezone.now() - timedelta(hours=1)),
        threshold=settings.DEADLETTER_WARNING_THRESHOLD,
        growth_threshold=settings.DEADLETTER_GROWTH_WARNING_PER_HOUR,
    )
