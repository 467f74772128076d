"""Rows written straight to the database, with the times a test needs (the relay's own code stamps 'now')."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from delivery.priority import Priority, PriorityReason
from webhooks.models import Callback, Endpoint


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def callback(
    endpoint: Endpoint, *, received_at: datetime | None = None, kind: str = "stk_callback", **fields
):
    return Callback.objects.create(
        merchant=endpoint.merchant,
        received_at=received_at or timezone.now(),
        kind=kind,
        **{"raw_body": b"{}", "payload": {}, **fields},
    )


def delivery(
    callback: Callback, *, status: str = Delivery.Status.DELIVERED, endpoint: Endpoint | None = None
) -> Delivery:
    """A delivery of ``callback`` to ``endpoint`` (default: its merchant's first destination)."""
    return Delivery.objects.create(
        callback=callback,
        endpoint=endpoint or callback.merchant.destinations.order_by("pk").first(),
        priority=Priority.NORMAL,
        priority_reason=PriorityReason.ENDPOINT_DEFAULT,
        status=status,
    )


def attempt(
    delivery: Delivery,
    number: int,
    *,
    outcome: str = DeliveryAttempt.Outcome.DELIVERED,
    error_category: str = "",
    started_at: datetime | None = None,
    duration_ms: int = 100,
) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(
        delivery=delivery,
        attempt_number=number,
        started_at=started_at or delivery.callback.received_at,
        duration_ms=duration_ms,
        outcome=outcome,
        error_category=error_category,
    )


def dead_letter(delivery: Delivery, *, resolved: str = "") -> DeadLetter:
    return DeadLetter.objects.create(
        delivery=delivery,
        endpoint=delivery.endpoint,
        callback=delivery.callback,
        error_category="server_error",
        attempts=3,
        dead_at=timezone.now(),
        resolved_at=timezone.now() if resolved else None,
        resolution=resolved,
    )
