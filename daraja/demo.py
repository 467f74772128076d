"""A built-in receiver for trying the relay: it verifies each delivery's signature like a merchant's app.

On when ``ENABLE_DEMO_RECEIVER`` (or ``DJANGO_DEBUG``) is true; a 404 otherwise.
"""

import logging

from django.conf import settings
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.selectors import destination_of

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def demo_receiver(request, user_id: str):
    """Answer 200 to a delivery whose signature verifies with ``user_id``'s main destination's secret,
    401 otherwise."""
    if not settings.ENABLE_DEMO_RECEIVER:
        raise Http404
    endpoint = destination_of(user_id)
    if endpoint is None:
        return JsonResponse({"error": "unknown_user"}, status=404)
    try:
        Webhook(endpoint.signing_secret).verify(request.body, dict(request.headers), json_parse=False)
    except WebhookVerificationError as exc:
        logger.warning("📭 Demo receiver refused a delivery for %s: %s", user_id, exc)
        return JsonResponse({"error": "bad_signature", "detail": str(exc)}, status=401)
    logger.info(
        "📬 Demo receiver got webhook %s for %s (signature verified)",
        request.headers.get("webhook-id"),
        user_id,
    )
    return JsonResponse({"received": True})
