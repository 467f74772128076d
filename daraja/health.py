"""``/health`` and ``/health/queue``: JSON, never a 500 page.

Both answer anyone. ``/health/queue`` shows anyone the status and the
counts; the endpoints that need attention (user ids, circuit state, pause
reasons, held counts) and what is down (``errors``) only to a staff member
logged in to the admin, an API key (a merchant key sees its own endpoint
alone) or the metrics bearer token.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from daraja.api_keys import api_key_for
from daraja.metrics.views import metrics_token_presented
from deadletter.selectors import open_dead_letters
from delivery.selectors import (
    delivery_priority_counts,
    delivery_status_counts,
    endpoint_circuit_overview,
    redis_queue_counts,
)

logger = logging.getLogger(__name__)

SERVICE_NAME = "webhook-service"
QUEUE_NAME = "webhook-delivery"


def _timestamp() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


@require_GET
def health(request):
    """Liveness: the web process answers."""
    return JsonResponse({"status": "ok", "service": SERVICE_NAME, "timestamp": _timestamp()})


def queue_report(*, with_endpoints: bool) -> tuple[dict, list[str]]:
    """The queue's numbers in the original design's shape, and what could not be read.

    Every number of deliveries comes from the database, which is the queue:
    ``waiting`` is deliveries due now (as in the original design: webhooks
    waiting for delivery), ``active`` those being sent, ``scheduled_retries``
    those waiting for their retry time; ``completed``/``failed`` are delivered
    deliveries and open dead letters. Redis adds the workers and, per
    priority, the RQ ``jobs`` (wake-ups) waiting. The problems name what is
    down, without the exception text (that goes to the log).
    """
    problems = []
    redis_numbers = None
    try:
        redis_numbers = redis_queue_counts()
    except RedisError as exc:
        logger.error("❌ Redis connection lost: %s", exc)
        problems.append("redis: unreachable")
    db_numbers = None
    try:
        db_numbers = {
            "priorities": delivery_priority_counts(now=timezone.now()),
            "deliveries": delivery_status_counts(),
            "dead_letters": open_dead_letters().count(),
        }
        if with_endpoints:
            db_numbers["endpoints"] = endpoint_circuit_overview()
    except DatabaseError as exc:
        logger.error("❌ Database unavailable: %s", exc)
        problems.append("database: unavailable")

    priorities = db_numbers["priorities"] if db_numbers else {}
    for name, jobs in (redis_numbers["priorities"] if redis_numbers else {}).items():
        priorities.setdefault(name, {})["jobs"] = jobs["waiting"]

    def total(name: str) -> int | None:
        return sum(numbers[name] for numbers in priorities.values()) if db_numbers else None

    report = {
        "status": "unhealthy" if problems else "healthy",
        "queue": {
            "name": QUEUE_NAME,
            "waiting": total("waiting"),
            "active": total("active"),
            "failed": db_numbers["dead_letters"] if db_numbers else None,
            "completed": db_numbers["deliveries"]["delivered"] if db_numbers else None,
            "scheduled_retries": total("scheduled"),
            "dead_letters": db_numbers["dead_letters"] if db_numbers else None,
            "priorities": priorities,
            "deliveries": db_numbers["deliveries"] if db_numbers else {},
        },
        "workers": redis_numbers["workers"] if redis_numbers else None,
        "redis": {"connected": redis_numbers is not None},
        "database": {"connected": db_numbers is not None},
    }
    if with_endpoints:
        report["endpoints"] = db_numbers["endpoints"] if db_numbers else None
    if problems:
        report["errors"] = problems
    return report, problems


# A caller who may see everything, as opposed to one merchant's own rows.
ALL = object()


def detail_scope(request):
    """Who may see ``/health/queue``'s details: ``ALL``, one merchant's user id, or ``None`` (the public).

    ``ALL``: a staff member logged in to the admin, an operator API key or the
    metrics bearer token. A merchant API key: its own user id. A wrong or
    revoked key is simply the public (the health check never answers 401).
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return ALL
    if metrics_token_presented(request):
        return ALL
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None
    try:
        api_key = api_key_for(presented.strip())
    except DatabaseError:
        return None
    if api_key is None or api_key.is_revoked:
        return None
    return api_key.user_id or ALL


def _narrowed(endpoints: dict | None, scope) -> dict | None:
    if endpoints is None or scope is ALL:
        return endpoints
    rows = [row for row in endpoints["needing_attention"] if row["user_id"] == scope]
    return {"needing_attention": rows}


@require_GET
def queue_health(request):
    """Queue health: ``queue_report``, 503 when Redis or the database is down (``status: "unhealthy"``).

    The public sees the status and the counts; the endpoints needing
    attention and the ``errors`` only go to ``detail_scope``'s callers.
    """
    scope = detail_scope(request)
    report, problems = queue_report(with_endpoints=scope is not None)
    if scope is None:
        report.pop("errors", None)
    else:
        report["endpoints"] = _narrowed(report["endpoints"], scope)
    body = {"service": SERVICE_NAME, "timestamp": _timestamp(), **report}
    return JsonResponse(body, status=503 if problems else 200)
