"""Log lines: secrets and phones cut in both formats, one JSON object per line, flow ids on every line."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from daraja.core.logging import (
    FlowContextFilter,
    HumanFormatter,
    JsonLineFormatter,
    MaskPersonalDataFilter,
    redact,
)
from daraja.core.request_context import flow_context
from tests.helpers import inbound_path, post_callback
from tests.support import Reply, run_worker

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+/="


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (f"secret {SECRET} leaked", "secret whsec_[redacted] leaked"),
        (
            "POST /webhook/shop42/k3vq8x0a9b7c6d5e4f3g2h1i0j9k8l7m HTTP/1.1",
            "POST /webhook/shop42/[redacted] HTTP/1.1",
        ),
        ("/webhook/shop42/k3vq8x0a/c2b-validation?x=1", "/webhook/shop42/[redacted]/c2b-validation?x=1"),
        ("/webhook/shop42 (legacy path)", "/webhook/shop42 (legacy path)"),
        ("Authorization: Bearer dk_live_abc.def", "Authorization: Bearer [redacted]"),
        ("paid by 254708374149", "paid by 2547*****149"),
        # an encoded or doubled slash after the user id: everything after it is cut
        ('"POST /webhook/shopa%2F/k3vq8x0a9b7c HTTP/1.1"', '"POST /webhook/shopa/[redacted] HTTP/1.1"'),
        ("POST /webhook/shopa%2Fk3vq8x0a9b7c HTTP/1.1", "POST /webhook/shopa/[redacted] HTTP/1.1"),
        ("Not Found: /webhook/shopa//k3vq8x0a9b7c", "Not Found: /webhook/shopa/[redacted]"),
        ("/webhook/shop42/k3vq/extra/c2b-confirmation", "/webhook/shop42/[redacted]/c2b-confirmation"),
        ("/webhook/shop42/", "/webhook/shop42/"),
        # an API key sent where it does not belong, and secrets in query strings
        (
            '"GET /api/v1/callbacks/?key=drk_0a1b2c3d4e5f_S3cr3tS3cr3t-_x&page_size=5 HTTP/1.1"',
            '"GET /api/v1/callbacks/?key=[redacted]&page_size=5 HTTP/1.1"',
        ),
        ("X-Api-Key: drk_0a1b2c3d4e5f_S3cr3tS3cr3t-_x", "X-Api-Key: drk_0a1b2c3d4e5f_[redacted]"),
        ("GET /api/v1/queue/?api_key=abc123 HTTP/1.1", "GET /api/v1/queue/?api_key=[redacted] HTTP/1.1"),
        ("GET /metrics?access_token=abc&x=1", "GET /metrics?access_token=[redacted]&x=1"),
        # a merchant URL's credentials and query string
        (
            "connection to http://u:pw@shop.example:8080/hook?token=t0k3n failed",
            "connection to http://[redacted]@shop.example:8080/hook?[redacted] failed",
        ),
        ("https://shop.example/hook?a=1#frag", "https://shop.example/hook?[redacted]#frag"),
    ],
)
def test_redact(text, redacted):
    assert redact(text) == redacted


def _record(message, *args, exc_info=None, **extra):
    record = logging.LogRecord("delivery.sending", logging.WARNING, __file__, 1, message, args, exc_info)
    record.__dict__.update(extra)
    return record


def _exc_info():
    try:
        raise ValueError(f"receiver said {SECRET} for 0712345678")
    except ValueError:
        return sys.exc_info()


def test_a_json_line_is_one_object_with_everything_redacted():
    record = _record("❌ Delivery failed for %s", "254708374149", exc_info=_exc_info(), note=f"key {SECRET}")
    MaskPersonalDataFilter().filter(record)
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "❌ Delivery failed for 2547*****149"
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "delivery.sending"
    assert parsed["time"].endswith("+00:00")
    assert parsed["note"] == "key whsec_[redacted]"
    assert "ValueError: receiver said whsec_[redacted] for 07*****678" in parsed["exc_info"]


def test_the_human_line_keeps_the_original_shape_and_is_redacted_too():
    record = _record("⏳ Retrying in %dms (attempt %d/%d)", 4000, 3, 3, exc_info=_exc_info())
    line = HumanFormatter().format(record)
    first, *traceback = line.splitlines()
    assert first.endswith(" WARNING [delivery.sending] ⏳ Retrying in 4000ms (attempt 3/3)")
    assert traceback[-1] == "ValueError: receiver said whsec_[redacted] for 07*****678"


def test_the_flow_filter_adds_only_the_ids_that_are_set():
    record = _record("x")
    FlowContextFilter().filter(record)
    assert not hasattr(record, "delivery_id") and not hasattr(record, "request_id")
    with flow_context(delivery_id=42):
        inside = _record("x")
        FlowContextFilter().filter(inside)
    assert inside.delivery_id == 42
    after = _record("x")
    FlowContextFilter().filter(after)
    assert not hasattr(after, "delivery_id")


@pytest.fixture
def json_log():
    """The root logger's records as JSON lines, through the same filters and formatter as LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(FlowContextFilter())
    handler.addFilter(MaskPersonalDataFilter())
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.django_db(transaction=True)
def test_a_request_id_is_honoured_echoed_and_on_every_line_of_the_request(client, endpoint_factory, json_log):
    endpoint_factory(user_id="shop1")
    response = client.generic(
        "POST",
        inbound_path("shop1"),
        b'{"Body": ',  # malformed: the view and Django's request logger both log a line
        "application/json",
        headers={"X-Request-Id": "mpesa-req-7"},
    )
    assert response.status_code == 400
    assert response["X-Request-Id"] == "mpesa-req-7"
    logging.getLogger("after").info("outside any request")
    lines = json_log()
    during = [line for line in lines if line["logger"] in ("webhooks.views", "django.request")]
    assert len(during) == 2
    assert all(line["request_id"] == "mpesa-req-7" for line in during)
    assert "request_id" not in lines[-1]


@pytest.mark.django_db
def test_an_unacceptable_request_id_is_replaced(client):
    for unacceptable in ("has spaces", "x" * 129, "new\nline"):
        response = client.get("/health", headers={"X-Request-Id": unacceptable})
        assert len(response["X-Request-Id"]) == 32 and response["X-Request-Id"] != unacceptable
    first, second = client.get("/health"), client.get("/health")
    assert first["X-Request-Id"] != second["X-Request-Id"]


@pytest.mark.django_db(transaction=True)
def test_every_line_of_a_delivery_job_carries_the_delivery_id(client, receiver, endpoint_factory, json_log):
    endpoint_factory(user_id="shop1")
    receiver.script("/hook", Reply(status=503))
    post_callback(client, "shop1")
    run_worker(until=lambda: len(receiver.requests) == 2)
    ours = [line for line in json_log() if line["logger"] == "delivery.engine"]
    assert [line["message"][0] for line in ours] == ["🚀", "❌", "⏳", "🚀", "✅"]
    assert len({line["delivery_id"] for line in ours}) == 1
