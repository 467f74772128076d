"""The inbound door under requests built to hold it up or to slip past its checks (issue 15).

Requests go through ``daraja.wsgi.application`` as gunicorn calls it, with a
real socket as the body's stream where the timing matters.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import time

import pytest

from daraja.wsgi import application
from tests.helpers import stk_body
from webhooks.models import Callback

pytestmark = pytest.mark.django_db(
    transaction=True
)  # the WSGI handler closes the connection after each request


def call(path: str, stream, *, content_length: str | None, **extra: str):
    """Call the WSGI application as gunicorn does; ``(status, JSON body)``."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream,
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **extra,
    }
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], json.loads(content) if content else None


@pytest.fixture
def silent_body():
    """A stream whose body never arrives: a socket the other end keeps open and never writes to."""
    mine, theirs = socket.socketpair()
    mine.settimeout(5)  # reading it would block this long, then raise
    stream = mine.makefile("rb")
    yield stream
    stream.close()
    mine.close()
    theirs.close()


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong token", "unknown user"])
def test_a_stranger_whose_body_never_arrives_is_refused_at_once(endpoint_factory, silent_body, token):
    # given an endpoint, and a request for it with a wrong token (or for a user that does not exist)
    endpoint = endpoint_factory(user_id="shop-slow")
    path = f"/webhook/shop-slow/{token}" if token else f"/webhook/nobody/{endpoint.inbound_token}"

    # when it declares a body that never comes
    started = time.monotonic()
    status, body = call(path, silent_body, content_length="100")

    # then it is refused without waiting for the body
    assert (status, body["error"]) == (404, "not_found")
    assert time.monotonic() - started < 1


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(endpoint_factory, silent_body, settings):
    endpoint = endpoint_factory(user_id="shop-big")
    settings.WEBHOOK_MAX_BODY_BYTES = 1000

    status, body = call(endpoint.inbound_path, silent_body, content_length="1001")

    assert (status, body["error"]) == (413, "payload_too_large")


def test_a_chunked_body_without_content_length_is_read(endpoint_factory):
    # given a callback sent chunked: no Content-Length, gunicorn hands the de-chunked body over as a stream
    endpoint = endpoint_factory(user_id="shop-chunked")
    raw = stk_body("ws_CO_chunked_1")

    # when it reaches the door
    status, body = call(
        endpoint.inbound_path, io.BytesIO(raw), content_length=None, HTTP_TRANSFER_ENCODING="chunked"
    )

    # then it is kept, byte for byte
    assert (status, body) == (200, {"ResultCode": 0, "ResultDesc": "Accepted"})
    assert bytes(Callback.objects.get(checkout_request_id="ws_CO_chunked_1").raw_body) == raw


def test_a_chunked_body_over_the_limit_is_refused(endpoint_factory, settings):
    endpoint = endpoint_factory(user_id="shop-chunked-big")
    settings.WEBHOOK_MAX_BODY_BYTES = 1000

    status, body = call(
        endpoint.inbound_path,
        io.BytesIO(b" " * 5000),
        content_length=None,
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert (status, body["error"]) == (413, "payload_too_large")
    assert not Callback.objects.exists()
