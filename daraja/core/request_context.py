"""Which flow a log line belongs to: a request id for web requests, a delivery id for delivery jobs.

The ids live in context variables, so every line logged while handling one
request (or running one job) carries the same id, whichever module logs it;
``daraja.core.logging.FlowContextFilter`` copies them onto each record.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept only when it is short and plain: it is written into every log line.
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_delivery_id: ContextVar[int | None] = ContextVar("delivery_id", default=None)
_endpoint_id: ContextVar[int | None] = ContextVar("endpoint_id", default=None)


def current_flow() -> dict[str, str | int]:
    """The ids of the flow running now (only those that are set)."""
    flow = {
        "request_id": _request_id.get(),
        "delivery_id": _delivery_id.get(),
        "endpoint_id": _endpoint_id.get(),
    }
    return {name: value for name, value in flow.items() if value is not None}


def request_id_for(incoming: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is an acceptable id, else a new one."""
    if incoming and _ACCEPTABLE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give every request an id (the caller's ``X-Request-Id`` or a new one) and echo it in the response.

    The id stays set until Django's ``request_finished`` signal, not just
    until this middleware returns: Django logs 4xx/5xx responses
    (``django.request``) and gunicorn writes its access line after the
    middleware chain has finished, and those lines belong to the request too.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _forget_request_id(**kwargs) -> None:
    _request_id.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="daraja.core.request_context.forget_request_id")


@contextmanager
def flow_context(*, delivery_id: int | None = None, endpoint_id: int | None = None) -> Iterator[None]:
    """Run a block (a delivery job) with its delivery id and/or endpoint id on every log line."""
    tokens = []
    if delivery_id is not None:
        tokens.append((_delivery_id, _delivery_id.set(delivery_id)))
    if endpoint_id is not None:
        tokens.append((_endpoint_id, _endpoint_id.set(endpoint_id)))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)
