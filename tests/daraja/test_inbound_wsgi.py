"""What the inbound door does per request, kept cheap: the endpoint lookup and the middleware.

The lookup reads the endpoint on every request (a fixed statement on
Postgres, no cache): a token rotation, a pause or an edit counts from the
next callback. The inbound door goes through ``daraja.wsgi.application``'s
own handler, which skips the browser-only middleware (daraja.inbound_wsgi).
"""

from __future__ import annotations

import io
import json
import sys
import uuid

import pytest
from django.conf import settings

from daraja import inbound_wsgi
from daraja.wsgi import application
from delivery.models import Delivery
from delivery.priority import Priority
from tests.helpers import stk_body
from webhooks import group_write
from webhooks.models import Endpoint, Merchant
from webhooks.selectors import merchant_by_user_id, merchant_for_inbound
from webhooks.services import (
    endpoint_create_or_update,
    endpoint_set_active,
    merchant_rotate_inbound_token,
)

# --- the merchant lookup ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lookup_loads_the_merchant_and_destinations_the_orm_loads(endpoint_factory):
    # given a merchant with two destinations, every kind of column set
    endpoint_factory(user_id="shop-lookup", priority_override=Priority.URGENT, validation_url="")
    endpoint_factory(user_id="shop-lookup", name="erp", kinds=["c2b_confirmation"])
    Endpoint.objects.filter(user_id="shop-lookup").update(paused_reason="")

    # when it is looked up for a callback
    looked_up = merchant_by_user_id("shop-lookup")

    # then it is the ORM's merchant and destinations, field for field and type for type, and saves as one
    from_orm = Merchant.objects.get(user_id="shop-lookup")
    for field in Merchant._meta.concrete_fields:
        mine, theirs = getattr(looked_up, field.attname), getattr(from_orm, field.attname)
        assert (mine, type(mine)) == (theirs, type(theirs)), field.name
    destinations = list(Endpoint.objects.filter(user_id="shop-lookup").order_by("pk"))
    assert [d.pk for d in looked_up.destination_list] == [d.pk for d in destinations]
    for mine_row, orm_row in zip(looked_up.destination_list, destinations, strict=True):
        for field in Endpoint._meta.concrete_fields:
            mine, theirs = getattr(mine_row, field.attname), getattr(orm_row, field.attname)
            assert (mine, type(mine)) == (theirs, type(theirs)), field.name
        assert mine_row.merchant is looked_up  # no query to reach the door from a destination
        assert not mine_row._state.adding
        mine_row.save(update_fields=["updated_at"])
    assert not looked_up._state.adding
    looked_up.save(update_fields=["updated_at"])
    assert merchant_by_user_id("nobody-here") is None


@pytest.mark.django_db
def test_a_merchant_without_destinations_is_found_with_none(endpoint_factory):
    Merchant.objects.create(user_id="shop-bare")

    assert merchant_by_user_id("shop-bare").destination_list == []


@pytest.mark.django_db
def test_a_rotated_token_counts_from_the_next_callback(endpoint_factory):
    endpoint = endpoint_factory(user_id="shop-rotate")
    old_token = endpoint.inbound_token
    assert merchant_for_inbound("shop-rotate", old_token) is not None

    merchant_rotate_inbound_token(merchant=endpoint.merchant)

    assert merchant_for_inbound("shop-rotate", old_token) is None
    assert merchant_for_inbound("shop-rotate", endpoint.inbound_token).pk == endpoint.merchant_id
    assert Merchant.objects.get(pk=endpoint.merchant_id).inbound_token_rotated_at is not None


@pytest.mark.django_db
def test_a_pause_and_an_edit_count_from_the_next_callback(endpoint_factory):
    endpoint = endpoint_factory(user_id="shop-edit", default_priority=Priority.NORMAL)
    token = endpoint.inbound_token
    assert merchant_for_inbound("shop-edit", token).destination_list[0].is_active

    endpoint_set_active(endpoint=endpoint, active=False, reason="maintenance")
    assert not merchant_for_inbound("shop-edit", token).destination_list[0].is_active

    endpoint_create_or_update(user_id="shop-edit", default_priority=Priority.HIGH, allow_legacy_path=True)
    edited = merchant_for_inbound("shop-edit", token).destination_list[0]
    assert edited.default_priority == Priority.HIGH
    assert merchant_for_inbound("shop-edit", None).pk == endpoint.merchant_id  # the legacy path, now allowed


@pytest.mark.django_db(transaction=True)
def test_callbacks_follow_a_pause_and_an_edit_at_once(client, endpoint_factory, monkeypatch):
    # given an endpoint whose wake-ups are recorded
    woken = []

    def record(priorities):
        if wanted := set(priorities):  # as wake_on_commit: nothing to wake, nothing asked
            woken.append(wanted)

    monkeypatch.setattr(group_write, "wake_on_commit", record)
    monkeypatch.setattr("delivery.services.wake_on_commit", record)
    endpoint = endpoint_factory(
        user_id="shop-live", default_priority=Priority.NORMAL, use_payment_rules=False
    )

    def post():
        body = stk_body(f"ws_CO_{uuid.uuid4().hex[:16]}")
        assert client.generic("POST", endpoint.inbound_path, body, "application/json").status_code == 200
        return Delivery.objects.order_by("-pk").first()

    # when it is edited, then paused, between callbacks
    assert post().priority == Priority.NORMAL
    endpoint_create_or_update(user_id="shop-live", default_priority=Priority.HIGH)
    assert post().priority == Priority.HIGH
    endpoint_set_active(endpoint=endpoint, active=False)
    paused_delivery = post()

    # then each callback followed the endpoint as it was when it arrived
    assert paused_delivery.status == Delivery.Status.PENDING
    assert woken == [{Priority.NORMAL}, {Priority.HIGH}]  # a paused endpoint's delivery wakes nobody


# --- the middleware ---------------------------------------------------------------------------


def wsgi_request(method: str, path: str, body: bytes = b"", **headers: str):
    """Call ``daraja.wsgi.application`` as gunicorn does; (status, headers, body)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], content


def test_the_inbound_door_runs_the_settings_middleware_without_the_browser_only_ones():
    kept = inbound_wsgi.inbound_middleware()
    assert kept == [
        path for path in settings.MIDDLEWARE if path not in inbound_wsgi.INBOUND_SKIPPED_MIDDLEWARE
    ]
    assert "daraja.core.request_context.RequestIdMiddleware" in kept
    assert "django.middleware.security.SecurityMiddleware" in kept
    assert "django.middleware.common.CommonMiddleware" in kept
    # every name skipped is one the settings use: a renamed middleware is noticed here, not in production
    assert set(settings.MIDDLEWARE) >= inbound_wsgi.INBOUND_SKIPPED_MIDDLEWARE


@pytest.mark.django_db(transaction=True)
def test_a_callback_through_the_wsgi_application_skips_session_auth_and_messages(endpoint_factory):
    # given an endpoint, and the WSGI application gunicorn runs
    endpoint = endpoint_factory(user_id="shop-wsgi")
    body = stk_body("ws_CO_wsgi_1")

    # when M-Pesa posts a callback
    status, headers, content = wsgi_request("POST", endpoint.inbound_path, body, x_request_id="mpesa-req-1")

    # then it is kept and answered, with the request id, without the browser-only middleware's marks
    assert status == 200, content
    assert json.loads(content) == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert headers["X-Request-Id"] == "mpesa-req-1"
    assert "X-Frame-Options" not in headers  # clickjacking middleware skipped
    assert "Cookie" not in headers.get("Vary", "")  # sessions skipped
    assert headers.get("X-Content-Type-Options") == "nosniff"  # security middleware kept
    assert Delivery.objects.filter(callback__checkout_request_id="ws_CO_wsgi_1").count() == 1

    # and every other path still gets the full middleware
    status, headers, _ = wsgi_request("GET", "/health")
    assert status == 200
    assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db(transaction=True)
def test_the_inbound_handler_serves_only_the_inbound_urls_and_checks_the_host(endpoint_factory):
    # a path under /webhook/ that the inbound URLs do not know is a 404, whatever the full URLs hold
    status, _, _ = wsgi_request("GET", "/webhook/a/b/c/admin/")
    assert status == 404
    # a host outside ALLOWED_HOSTS is refused as before (CommonMiddleware kept)
    endpoint = endpoint_factory(user_id="shop-host")
    status, _, _ = wsgi_request("POST", endpoint.inbound_path, stk_body("ws_CO_host"), host="evil.example")
    assert status == 400


# --- the view ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_inbound_answers_are_the_bytes_drf_wrote(endpoint_factory):
    """The inbound view is a plain Django view now; M-Pesa and the merchants' monitors see no change."""
    endpoint = endpoint_factory(user_id="shop-bytes")

    status, headers, content = wsgi_request("POST", endpoint.inbound_path, stk_body("ws_CO_bytes"))
    assert (status, headers["Content-Type"], content) == (
        200,
        "application/json",
        b'{"ResultCode":0,"ResultDesc":"Accepted"}',
    )

    status, headers, content = wsgi_request("POST", endpoint.inbound_path, b"{nope")
    assert (status, headers["Content-Type"]) == (400, "application/json")
    assert json.loads(content)["error"] == "invalid_json"

    status, headers, content = wsgi_request("GET", endpoint.inbound_path)
    assert (status, headers["Allow"]) == (405, "POST, OPTIONS")
    assert json.loads(content) == {"error": "method_not_allowed", "detail": 'Method "GET" not allowed.'}


# --- the lookup as the request's connection health check ----------------------------------------


def checks_counted(monkeypatch) -> list:
    """Count Django's connection health checks (``is_usable``: a ``SELECT 1`` round trip each)."""
    from django.db import connections

    wrapper = connections["default"]
    checks = []
    real = wrapper.is_usable

    def counted():
        checks.append(1)
        return real()

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return checks


def reused_connection_due_for_a_check():
    from django.db import connection

    connection.ensure_connection()
    connection.health_check_enabled = True
    connection.health_check_done = False  # as at the start of a request that reuses the connection


@pytest.mark.django_db(transaction=True)
def test_the_lookup_serves_as_the_requests_health_check(endpoint_factory, monkeypatch):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the Postgres lookup")
    endpoint_factory(user_id="shop-check")
    checks = checks_counted(monkeypatch)
    reused_connection_due_for_a_check()

    assert merchant_by_user_id("shop-check") is not None

    assert checks == []  # no SELECT 1 before the lookup
    assert connection.health_check_done  # and none later in this request either


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_since_its_last_request_is_replaced_and_the_lookup_answers(
    endpoint_factory, monkeypatch
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the Postgres lookup")
    # given a reused connection that broke meanwhile (a database restart)
    endpoint = endpoint_factory(user_id="shop-broken")
    checks = checks_counted(monkeypatch)
    reused_connection_due_for_a_check()
    broken = connection.connection
    broken.close()

    # when a callback's lookup runs on it
    found = merchant_by_user_id("shop-broken")

    # then the connection was replaced and the lookup answered, as Django's check would have made it
    assert found.pk == endpoint.merchant_id
    assert checks == [1]  # asked only once the lookup had failed
    assert connection.connection is not broken and not connection.connection.closed
