"""The inbound door M-Pesa calls, and the test endpoints that queue a sample callback at a chosen priority."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from daraja.core.json_errors import drf_error_response, error_body
from delivery.priority import Priority
from webhooks.c2b_validation import c2b_validate, fallback_answer, inbound_facts, validating_destination
from webhooks.inbound import InboundRejected, check_content_type, check_size, kept_headers, parse_json_object
from webhooks.mpesa import CallbackKind
from webhooks.received import ReceivedCallback
from webhooks.samples import sample_callback
from webhooks.selectors import merchant_by_user_id, merchant_for_inbound
from webhooks.services import callback_receive
from webhooks.sources import client_address, in_networks

logger = logging.getLogger(__name__)

ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
CONFIRMED = {"ResultCode": 0, "ResultDesc": "Success"}


class PublicJSONView(APIView):
    """A view M-Pesa (or a curl) calls without credentials; it reads the raw body itself."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []
    throttle_classes: list = []


@method_decorator(csrf_exempt, name="dispatch")  # M-Pesa has no cookie; the token in the path is the key
class InboundWebhookView(View):
    """``POST /webhook/<user_id>/<token>[/c2b-validation|/c2b-confirmation]``: keep it, answer M-Pesa.

    Order of checks: declared body size (413; a body with neither
    ``Content-Length`` nor chunked transfer encoding is empty), content type
    (415), source address when the allowlist is on (403), merchant and token
    (a bare 404); only then is the body read (413 again past the limit, for a
    chunked one) and parsed (400). So a caller without the path's token
    never gets a thread to wait on its body.
    A database that cannot be written answers 503 so that M-Pesa sees a
    failure; nothing is half-written (one transaction). The answer is the
    one each kind expects; C2B validation relays the merchant's accept/reject.

    A plain Django view, not DRF's: it reads the raw body itself and answers
    small fixed JSON, and DRF's request wrapping, negotiation and rendering
    were a tenth of a callback's cost. The answers are byte for byte what
    DRF's renderer wrote (compact, UTF-8).
    """

    http_method_names = ["post", "options"]

    def post(self, request, user_id: str, token: str | None = None, hint: str | None = None):
        try:
            chunked = _check_declared_size(request)
            check_content_type(request.META.get("CONTENT_TYPE"))
            source_ip = client_address(
                request.META.get("REMOTE_ADDR"),
                request.META.get("HTTP_X_FORWARDED_FOR"),
                settings.INBOUND_TRUSTED_PROXIES,
            )
            if settings.INBOUND_SOURCE_ALLOWLIST_ENABLED and not in_networks(
                source_ip, settings.INBOUND_ALLOWED_SOURCES
            ):
                raise InboundRejected(403, "forbidden_source", "This address may not send callbacks.")
            merchant = merchant_for_inbound(user_id, token)
            if merchant is None:
                # Unknown user, wrong token or legacy path not allowed: one answer for all, no detail.
                raise InboundRejected(404, "not_found", "Not found.")
            destinations = merchant.destination_list
            # Read only now: a stranger (wrong path or token) never holds a thread waiting for a body.
            raw_body = _read_body(request, chunked=chunked)
            payload = parse_json_object(raw_body)
            received = {
                "raw_body": raw_body,
                "payload": payload,
                "headers": kept_headers(request.headers),
                "source_ip": source_ip,
                "facts": inbound_facts(merchant=merchant, payload=payload, hint=hint),
            }
            validating = validating_destination(destinations)
            if received["facts"].kind == CallbackKind.C2B_VALIDATION and validating is not None:
                return json_answer(200, c2b_validate(endpoint=validating, **received))
            callback_receive(ReceivedCallback(merchant=merchant, destinations=destinations, **received))
        except InboundRejected as rejected:
            logger.warning(
                "Inbound callback for %s refused (%s): %s", user_id, rejected.status, rejected.detail
            )
            return json_error(rejected.status, rejected.code, rejected.detail)
        except DatabaseError as exc:
            logger.error("❌ Database unavailable, callback for %s refused with 503: %s", user_id, exc)
            return json_error(503, "service_unavailable", "The relay cannot store callbacks right now.")
        return json_answer(200, answer_for(received["facts"].kind, destinations))

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = json_error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        response["Allow"] = ", ".join(method.upper() for method in self._allowed_methods())
        return response


def json_answer(status: int, data: dict) -> HttpResponse:
    """``data`` as the JSON DRF's renderer writes (compact separators, UTF-8 as is)."""
    content = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return HttpResponse(content, status=status, content_type="application/json")


def json_error(status: int, code: str, detail: str) -> HttpResponse:
    """The project's error body (``daraja.core.json_errors``) without DRF."""
    return json_answer(status, error_body(code, detail))


def answer_for(kind: str, destinations) -> dict:
    """What M-Pesa expects back for a kept callback of ``kind``."""
    if kind == CallbackKind.C2B_CONFIRMATION:
        return CONFIRMED
    if kind == CallbackKind.C2B_VALIDATION:
        return fallback_answer(destinations)  # no validation URL: the merchant's standing answer
    return ACCEPTED


def _check_declared_size(request) -> bool:
    """413 when ``Content-Length`` is over the limit; whether the body comes chunked (no length)."""
    declared = request.META.get("CONTENT_LENGTH")
    if not declared and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    try:
        length = int(declared or 0)
    except ValueError:
        length = 0
    check_size(length, settings.WEBHOOK_MAX_BODY_BYTES)
    return False


def _read_body(request, *, chunked: bool) -> bytes:
    """The body, at most ``WEBHOOK_MAX_BODY_BYTES`` (413 past it).

    A chunked body is read from the server's input stream (gunicorn de-chunks
    it; Django reads only ``Content-Length`` bytes and would see none), one
    byte past the limit at most, so an endless one costs no memory.
    """
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if chunked:
        return _read_chunked(request.META["wsgi.input"], limit)
    try:
        body = request.body
    except RequestDataTooBig:
        raise InboundRejected(413, "payload_too_large", f"Body is over the limit of {limit} bytes.") from None
    check_size(len(body), limit)
    return body


def _read_chunked(stream, limit: int) -> bytes:
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise InboundRejected(413, "payload_too_large", f"Body is over the limit of {limit} bytes.")
    return b"".join(chunks)


class TestPriorityView(PublicJSONView):
    """``POST /test/priority/<user_id>/<level>``: queue a sample STK callback at that priority.

    On only when ``DJANGO_DEBUG`` or ``ENABLE_TEST_ENDPOINTS`` is true; a 404 otherwise.
    """

    def post(self, request, user_id: str, level: str):
        if not settings.ENABLE_TEST_ENDPOINTS:
            raise Http404
        merchant = merchant_by_user_id(user_id)
        if merchant is None:
            return drf_error_response(
                404, "unknown_user", f"No merchant is registered with user id {user_id!r}."
            )
        priority = Priority.from_name(level)
        kept = callback_receive(
            sample_callback(
                merchant=merchant,
                destinations=merchant.destination_list,
                user_agent="daraja-relay-test-endpoint",
                source_ip=request.META.get("REMOTE_ADDR") or None,
                priority_override=priority,
            )
        )
        first = kept.delivery
        return Response(
            {
                "queued": first is not None,
                "priority": priority.queue_name,
                "priority_value": int(priority),
                "delivery_id": first.pk if first else None,
                "webhook_id": first.webhook_id if first else None,
                "deliveries": [
                    {
                        "destination": delivery.endpoint.name,
                        "delivery_id": delivery.pk,
                        "webhook_id": delivery.webhook_id,
                    }
                    for delivery in kept.deliveries
                ],
            }
        )
