"""Failure analysis: where dead letters come from, so patterns are visible at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, QuerySet
from django.utils import timezone

from deadletter.models import DeadLetter


@dataclass(frozen=True)
class FailureBreakdown:
    """Dead-letter counts over one window, by error category, by user (merchant), by destination and by
    HTTP status."""

    window_hours: int
    total: int
    by_error_category: list[dict]
    by_user: list[dict]
    by_destination: list[dict]
    by_http_status: list[dict]


def failure_breakdown(
    dead_letters: QuerySet[DeadLetter], *, window: timedelta, top: int = 20
) -> FailureBreakdown:
    """Count ``dead_letters`` that died within ``window`` of now, grouped three ways (largest first).

    ``dead_letters`` is any dead-letter queryset (all, open only, one
    merchant's…), so the admin and the API apply their own scoping first.
    ``by_user``, ``by_destination`` and ``by_http_status`` keep the ``top`` largest groups;
    ``http_status`` is ``None`` for failures without a response (network, timeout).
    """
    recent = dead_letters.filter(dead_at__gte=timezone.now() - window).order_by()
    return FailureBreakdown(
        window_hours=int(window.total_seconds() // 3600),
        total=recent.count(),
        by_error_category=list(
            recent.values("error_category").annotate(count=Count("id")).order_by("-count", "error_category")
        ),
        by_user=[
            {"user_id": row["endpoint__user_id"], "count": row["count"]}
            for row in recent.values("endpoint__user_id").annotate(count=Count("id")).order_by("-count")[:top]
        ],
        by_destination=[
            {
                "user_id": row["endpoint__user_id"],
                "destination": row["endpoint__name"],
                "destination_id": row["endpoint_id"],
                "count": row["count"],
            }
            for row in recent.values("endpoint_id", "endpoint__user_id", "endpoint__name")
            .annotate(count=Count("id"))
            .order_by("-count", "endpoint_id")[:top]
        ],
        by_http_status=[
            {"http_status": row["last_response_status"], "count": row["count"]}
            for row in recent.values("last_response_status")
            .annotate(count=Count("id"))
            .order_by("-count")[:top]
        ],
    )
