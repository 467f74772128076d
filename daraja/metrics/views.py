"""``GET /metrics``: the Prometheus text format, for allowed networks or a bearer token only."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client.exposition import choose_encoder

from daraja.core.json_errors import error_body
from daraja.metrics.collector import REGISTRY
from webhooks.sources import in_networks


def metrics_access_allowed(request: HttpRequest) -> bool:
    """True for a client on ``METRICS_ALLOWED_NETWORKS`` or one sending ``Bearer <METRICS_BEARER_TOKEN>``.

    The network is the socket peer (``REMOTE_ADDR``), never ``X-Forwarded-For``,
    which any client can write: behind a proxy, use the token.
    """
    if metrics_token_presented(request):
        return True
    return in_networks(request.META.get("REMOTE_ADDR"), settings.METRICS_ALLOWED_NETWORKS)


def metrics_token_presented(request: HttpRequest) -> bool:
    """True when the request sends ``Authorization: Bearer <METRICS_BEARER_TOKEN>`` (and one is set)."""
    token = settings.METRICS_BEARER_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return bool(
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), token.encode())
    )


@csrf_exempt  # read-only; a POST gets the JSON 405 below, not the CSRF page
def metrics(request: HttpRequest) -> HttpResponse:
    """Every relay metric, read from the database and Redis now (``daraja.metrics.collector``)."""
    if request.method not in ("GET", "HEAD"):
        return JsonResponse(
            error_body("method_not_allowed", "Use GET."), status=405, headers={"Allow": "GET, HEAD"}
        )
    if not metrics_access_allowed(request):
        return JsonResponse(
            error_body(
                "forbidden", "Metrics are open to METRICS_ALLOWED_NETWORKS or with the metrics bearer token."
            ),
            status=403,
        )
    # The classic text format (version 0.0.4) unless the scraper asks for OpenMetrics.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)
