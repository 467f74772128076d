"""The inbound door: what M-Pesa gets back, what is kept, and bad input that changes nothing."""

import json

import pytest

from delivery.models import Delivery
from delivery.queues import delivery_queues
from tests.helpers import inbound_path, post_callback, stk_body
from webhooks.models import Callback

pytestmark = pytest.mark.django_db(transaction=True)


def nothing_written() -> bool:
    return (
        not Callback.objects.exists()
        and not Delivery.objects.exists()
        and not any(q.count for q in delivery_queues())
    )


@pytest.mark.parametrize("trailing_slash", ["", "/"])
def test_a_callback_is_kept_and_queued_before_m_pesa_gets_its_answer(
    client, endpoint_factory, trailing_slash
):
    # given
    endpoint = endpoint_factory(user_id="shop1", default_priority=1)
    body = stk_body()
    # when
    response = client.generic(
        "POST",
        endpoint.inbound_path + trailing_slash,
        body,
        "application/json; charset=utf-8",
        HTTP_USER_AGENT="Safaricom",
        REMOTE_ADDR="196.201.214.200",
    )
    # then
    assert response.status_code == 200
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    callback = Callback.objects.get()
    assert bytes(callback.raw_body) == body
    assert callback.payload["Body"]["stkCallback"]["ResultCode"] == 0
    assert callback.source_ip == "196.201.214.200"
    assert callback.headers["User-Agent"] == "Safaricom"
    assert callback.received_at is not None
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.priority, delivery.priority_reason) == (
        "pending",
        1,
        "endpoint_default",
    )
    low = next(q for q in delivery_queues() if q.name == "low")
    assert low.count == 1
    # the job wakes the workers for low-priority work; the row is what they claim
    assert (low.jobs[0].func_name, low.jobs[0].args) == ("delivery.jobs.drain_deliveries", (1,))


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b"[1, 2, 3]", "application/json", 400, "invalid_json"),
        (b'"just a string"', "application/json", 400, "invalid_json"),
        (b"null", "application/json", 400, "invalid_json"),
        (b'{"a": NaN}', "application/json", 400, "invalid_json"),
        (b'{"a": 1e999}', "application/json", 400, "invalid_json"),
        (b'{"a": "\xff\xfe"}', "application/json", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "invalid_json"),
        (b'{"a": 1}', "text/plain", 415, "unsupported_media_type"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"a": 1}', "", 415, "unsupported_media_type"),
    ],
)
def test_bad_input_gets_a_json_error_and_writes_nothing(
    client, endpoint_factory, body, content_type, status, code
):
    endpoint_factory(user_id="shop1")
    response = client.generic("POST", inbound_path("shop1"), body, content_type, CONTENT_TYPE=content_type)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert nothing_written()


def test_a_body_with_a_repeated_key_is_refused_so_the_facts_never_disagree_with_the_merchant(
    client, endpoint_factory
):
    # given an STK callback that says its CheckoutRequestID twice, deep inside
    endpoint_factory(user_id="shop1")
    body = stk_body("ws_CO_first").replace(
        b'"CheckoutRequestID": "ws_CO_first",',
        b'"CheckoutRequestID": "ws_CO_first", "CheckoutRequestID": "ws_CO_second",',
    )
    assert body.count(b"CheckoutRequestID") == 2

    # when it arrives
    response = client.generic("POST", inbound_path("shop1"), body, "application/json")

    # then it is refused, naming the key, and nothing is kept
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert "'CheckoutRequestID'" in response.json()["detail"]
    assert nothing_written()


def test_an_unknown_user_is_a_404_and_writes_nothing(client, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    response = client.generic(
        "POST", f"/webhook/nobody/{endpoint.inbound_token}", stk_body(), "application/json"
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}
    assert nothing_written()


def test_a_body_over_the_limit_is_a_413_and_writes_nothing(client, endpoint_factory, settings):
    endpoint_factory(user_id="shop1")
    body = json.dumps({"pad": "x" * (1024 * 1024)}).encode()
    response = post_callback(client, "shop1", body)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert nothing_written()


def test_the_body_limit_is_configurable(client, endpoint_factory, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    endpoint_factory(user_id="shop1")
    assert post_callback(client, "shop1", json.dumps({"pad": "x" * 200}).encode()).status_code == 413
    assert post_callback(client, "shop1", b'{"small": 1}').status_code == 200


def test_other_methods_are_refused_with_json(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    response = client.get(inbound_path("shop1"))
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_nul_characters_and_lone_surrogates_are_kept_raw_and_stored_safely(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    body = b'{"name": "a\\u0000b", "odd": "\\ud800", "\\u0000key": 1}'
    response = post_callback(client, "shop1", body)
    assert response.status_code == 200
    callback = Callback.objects.get()
    assert bytes(callback.raw_body) == body
    assert callback.payload["name"] == "a\ufffdb"


def test_redis_down_still_keeps_the_callback_and_answers_200(client, endpoint_factory, settings):
    from tests.support import free_port

    endpoint_factory(user_id="shop1")
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_SOCKET_TIMEOUT = 0.5
    response = post_callback(client, "shop1")
    assert response.status_code == 200
    assert Delivery.objects.get().status == "pending"


def test_test_priority_endpoints_are_404_unless_enabled(client, endpoint_factory, settings):
    endpoint_factory(user_id="shop1")
    settings.ENABLE_TEST_ENDPOINTS = False
    assert client.post("/test/priority/shop1/high").status_code == 404
    settings.ENABLE_TEST_ENDPOINTS = True
    response = client.post("/test/priority/shop1/high")
    assert response.status_code == 200
    assert response.json()["priority"] == "high"
    delivery = Delivery.objects.get()
    assert (delivery.priority, delivery.priority_reason) == (10, "override")
    assert client.post("/test/priority/shop1/extreme").status_code == 404
    assert client.post("/test/priority/nobody/high").status_code == 404
