"""``/health`` and ``/health/queue``: JSON, never a 500 page.

Both answer anyone. ``/health/queue`` shows anyone the status and the
counts; the endpoints that need attention (user ids, circuit state, pause
reasons, held counts) and what is down (``errors``) only to a staff member
logged in to the admin, an API key (a merchant key sees its own endpoint
alone) or the metrics bearer token.
"""

from __future__ import annotations

from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from daraja.api_keys import api_key_for
from daraja.metrics.views import metrics_token_presented
from daraja.queue_report import queue_report

SERVICE_NAME = "webhook-service"


def _timestamp() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


@require_GET
def health(request):
    """Liveness: the web process answers."""
    return JsonResponse({"status": "ok", "service": SERVICE_NAME, "timestamp": _timestamp()})


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
