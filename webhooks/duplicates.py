"""De-duplication: the same M-Pesa callback arriving again is acknowledged, counted, not re-delivered."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from webhooks.models import Callback, Endpoint
from webhooks.mpesa import CallbackFacts, CallbackKind


def find_original(endpoint: Endpoint, facts: CallbackFacts) -> Callback | None:
    """The earlier callback this one repeats, or ``None``.

    A repeat has the same kind, the same correlation id of that kind and the
    same result code, and arrived within ``DUPLICATE_WINDOW_HOURS``. A
    different result for the same id (a late success after a timeout notice,
    say) is news, not a repeat. Unknown shapes and callbacks without a
    correlation id are never treated as repeats.
    """
    if facts.kind is CallbackKind.UNKNOWN or not facts.correlation_id:
        return None
    since = timezone.now() - timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    return (
        Callback.objects.filter(
            endpoint=endpoint,
            kind=facts.kind,
            correlation_id=facts.correlation_id,
            result_code=facts.result_code,
            received_at__gte=since,
        )
        .order_by("received_at")
        .only("pk")
        .first()
    )


def record_duplicate(original: Callback) -> None:
    """Count one more arrival on the original (atomic increment: concurrent repeats all count)."""
    now = timezone.now()
    Callback.objects.filter(pk=original.pk).update(
        duplicate_count=F("duplicate_count") + 1, last_duplicate_at=now, updated_at=now
    )
