"""The queue dashboard (``/admin/dashboard/``): one admin page with what support checks first.

Deliveries waiting per priority, being sent and scheduled for a retry (from the database, which
is the queue: ``delivery.selectors.delivery_priority_counts``); workers alive (from Redis, via
``delivery.selectors.redis_queue_counts``); deliveries by state (``delivery_status_counts``);
attempts and success rate over the last hour; the dead-letter queue's size with a warning
banner; the endpoints that need attention (paused, circuit open, holding deliveries, new dead
letters), each in words with a link to its page; and a server-rendered SVG chart of delivered
and failed attempts per hour. The page reloads itself every ``DASHBOARD_REFRESH_SECONDS``.
Redis being down is shown on the page, never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from redis.exceptions import RedisError

from daraja.admin.dead_letter_queries import HourlyPoint, attempt_activity, dead_letter_health
from delivery.circuit import describe_circuit
from delivery.models import CircuitState, Delivery
from delivery.queues import redis_connection
from delivery.selectors import (
    delivery_priority_counts,
    delivery_status_counts,
    endpoints_with_held_counts,
    redis_queue_counts,
)
from webhooks.models import Endpoint

logger = logging.getLogger(__name__)

CHART_WIDTH, CHART_HEIGHT = 720, 200
# The page reloads itself this often, so a support screen left open stays current.
DASHBOARD_REFRESH_SECONDS = 30
CHART_LEFT, CHART_BOTTOM, CHART_TOP = 40, 24, 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


def chart(points: list[HourlyPoint]) -> dict:
    """Coordinates of an SVG bar chart: per hour, a green bar (delivered) beside a red one (failed)."""
    plot_width = CHART_WIDTH - CHART_LEFT - 10
    plot_height = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    largest = max((max(p.delivered, p.failed) for p in points), default=0) or 1
    slot = plot_width / max(len(points), 1)
    bar_width = max(slot / 2 - 1, 1)
    delivered, failed, labels = [], [], []
    for index, point in enumerate(points):
        x = CHART_LEFT + index * slot
        hour = point.hour.strftime("%H:00")
        for series, value, offset, what in (
            (delivered, point.delivered, 0, "delivered"),
            (failed, point.failed, bar_width, "failed"),
        ):
            height = plot_height * value / largest
            series.append(
                Bar(
                    x=round(x + offset, 1),
                    y=round(CHART_TOP + plot_height - height, 1),
                    width=round(bar_width, 1),
                    height=round(height, 1),
                    title=f"{hour}: {value} {what}",
                )
            )
        if index % 3 == 0:
            labels.append({"x": round(x + slot / 2, 1), "text": hour})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "top": CHART_TOP,
        "baseline": CHART_TOP + plot_height,
        "label_y": CHART_HEIGHT - 6,
        "right": CHART_WIDTH - 10,
        "largest": largest,
        "delivered": delivered,
        "failed": failed,
        "labels": labels,
        "total_delivered": sum(p.delivered for p in points),
        "total_failed": sum(p.failed for p in points),
    }


def redis_status() -> dict:
    """Queue numbers from Redis, or why they could not be read."""
    try:
        counts = redis_queue_counts()
        memory = redis_connection().info("memory").get("used_memory_human", "")
    except RedisError as exc:
        logger.error("❌ Redis connection lost (dashboard): %s", exc)
        return {"connected": False, "error": str(exc)}
    return {
        "connected": True,
        "memory": memory,
        "workers": counts["workers"],
        "failed_jobs": sum(p["failed_jobs"] for p in counts["priorities"].values()),
    }


def queue_numbers(now) -> dict:
    """Per priority, deliveries waiting (due), being sent and scheduled for later; from the database."""
    priorities = delivery_priority_counts(now=now)
    return {
        "priorities": priorities,
        "active": sum(p["active"] for p in priorities.values()),
        "scheduled": sum(p["scheduled"] for p in priorities.values()),
    }


def _by_status(counts: dict[str, int]) -> list[dict]:
    return [
        {"status": status, "label": label, "count": counts.get(status, 0)}
        for status, label in Delivery.Status.choices
    ]


ATTENTION_ROWS = 50
NEW_DEAD_LETTER_HOURS = 24


def endpoints_needing_attention(now) -> list[dict]:
    """Endpoints support should look at, worst first: paused, circuit open, holding deliveries or
    with dead letters new in the last ``NEW_DEAD_LETTER_HOURS`` still open; each with its state in words."""
    since = now - timedelta(hours=NEW_DEAD_LETTER_HOURS)
    endpoints = endpoints_with_held_counts(Endpoint.objects.all()).annotate(
        new_dead=Count(
            "dead_letters",
            filter=Q(dead_letters__resolved_at__isnull=True, dead_letters__dead_at__gte=since),
            distinct=True,
        )
    )
    rows = []
    for endpoint in endpoints.filter(
        Q(is_active=False)
        | Q(circuit__state=CircuitState.OPEN)
        | Q(held_deliveries__gt=0)
        | Q(new_dead__gt=0)
    ).order_by("is_active", "-circuit__state", "-held_deliveries", "user_id")[:ATTENTION_ROWS]:
        rows.append(
            {
                "user_id": endpoint.user_id,
                "name": endpoint.label,  # the user id, and the destination's name unless it is the main one
                "url": reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
                "state": describe_circuit(endpoint, held=endpoint.held_deliveries),
                "tone": "fail" if endpoint.circuit.state == CircuitState.OPEN else "wait",
                "held": endpoint.held_deliveries,
                "new_dead": endpoint.new_dead,
                "dead_url": reverse("admin:deadletter_deadletter_changelist") + f"?destination={endpoint.pk}",
            }
        )
    return rows


def dashboard_view(request):
    """The dashboard page; any staff member who may view deliveries sees it."""
    if not request.user.has_perm("delivery.view_delivery"):
        raise PermissionDenied
    now = timezone.now()
    last_hour, hourly = attempt_activity(hours=24, now=now)
    context = {
        **admin.site.each_context(request),
        "title": "Queue dashboard",
        "redis": redis_status(),
        "queues": queue_numbers(now),
        "deliveries": _by_status(delivery_status_counts()),
        "last_hour": last_hour,
        "dead_letters": dead_letter_health(),
        "chart": chart(hourly),
        "attention": endpoints_needing_attention(now),
        "refresh_seconds": DASHBOARD_REFRESH_SECONDS,
        "now": now,
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
