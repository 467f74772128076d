"""C2B validation (webhooks.c2b_validation): one synchronous exchange with the validation URL."""

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from deadletter.models import DeadLetter
from delivery.models import Delivery, DeliveryAttempt
from tests.helpers import MPESA_PAYLOADS, post_to
from tests.support import Reply, free_port, run_worker
from webhooks.models import Callback, ValidationExchange

VALIDATION = (MPESA_PAYLOADS / "c2b_validation.json").read_bytes()


# --- C2B validation ---------------------------------------------------------------


def validate(client, endpoint):
    started = time.monotonic()
    response = post_to(client, endpoint.inbound_path + "/c2b-validation", VALIDATION)
    return response, time.monotonic() - started


def assert_outside_the_delivery_lifecycle():
    """A validation exchange makes no delivery, no attempt and no dead letter."""
    assert not Delivery.objects.exists()
    assert not DeliveryAttempt.objects.exists()
    assert not DeadLetter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_validation_relays_the_merchants_accept(client, receiver, endpoint_factory):
    # Given a destination whose validation URL accepts
    endpoint = endpoint_factory(user_id="shop1", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ResultCode": 0, "ResultDesc": "Accepted"}'))
    # When M-Pesa asks
    response, _ = validate(client, endpoint)
    # Then M-Pesa gets the merchant's accept, from one request signed and labelled like any delivery
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    [request] = receiver.requests_to("/validate")
    assert request.body == VALIDATION
    assert Webhook(endpoint.signing_secret).verify(request.body, request.headers, json_parse=False) is None
    assert (
        request.headers["Content-Type"],
        request.headers["X-Daraja-Kind"],
        request.headers["X-Daraja-Attempt"],
        request.headers["X-Daraja-Priority"],
        request.headers["X-Daraja-User-Id"],
    ) == ("application/json", "c2b_validation", "1", "urgent", "shop1")
    # And the exchange is recorded as its own record, not as a delivery
    exchange = ValidationExchange.objects.get()
    assert (exchange.outcome, exchange.answer_code, exchange.response_status, exchange.error_category) == (
        "accepted",
        "0",
        200,
        "",
    )
    assert exchange.webhook_id == request.headers["webhook-id"]
    assert (exchange.destination, exchange.merchant, exchange.callback) == (
        endpoint,
        endpoint.merchant,
        Callback.objects.get(),
    )
    assert_outside_the_delivery_lifecycle()
    run_worker()
    assert receiver.requests_to("/hook") == []  # answered synchronously, not relayed twice


@pytest.mark.django_db(transaction=True)
def test_validation_relays_the_merchants_reject(client, receiver, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ResultCode": "C2B00012", "ResultDesc": "Invalid account"}'))
    response, _ = validate(client, endpoint)
    assert response.json() == {"ResultCode": "C2B00012", "ResultDesc": "Invalid account"}
    exchange = ValidationExchange.objects.get()
    assert (exchange.outcome, exchange.answer_code) == ("rejected", "C2B00012")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fallback", "answer"),
    [
        ("accept", {"ResultCode": "0", "ResultDesc": "Accepted"}),
        ("reject", {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}),
    ],
)
def test_a_slow_merchant_gets_the_fallback_within_the_budget(
    client, receiver, endpoint_factory, settings, fallback, answer
):
    settings.C2B_VALIDATION_BUDGET_SECONDS = 0.6
    endpoint = endpoint_factory(
        user_id="shop1", validation_url=receiver.url("/validate"), validation_fallback=fallback
    )
    receiver.script("/validate", Reply(delay=3, body=b'{"ResultCode": 0}'))
    response, took = validate(client, endpoint)
    assert response.json() == answer
    assert took < 1.5
    exchange = ValidationExchange.objects.get()
    assert (exchange.error_category, exchange.outcome, exchange.answer_code) == (
        "timeout",
        "fallback",
        answer["ResultCode"],
    )
    assert exchange.duration_ms < 1500
    assert exchange.error_summary == "No answer within 0.6 s"
    assert_outside_the_delivery_lifecycle()


@pytest.mark.django_db(transaction=True)
def test_a_merchant_that_is_down_or_answers_garbage_gets_the_fallback(client, receiver, endpoint_factory):
    down = endpoint_factory(
        user_id="down", validation_url=f"http://127.0.0.1:{free_port()}/v", validation_fallback="reject"
    )
    response, _ = validate(client, down)
    assert response.json() == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
    garbage = endpoint_factory(user_id="garbage", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b"<html>oops</html>"))
    response, _ = validate(client, garbage)
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    down_exchange = ValidationExchange.objects.get(destination=down)
    assert (down_exchange.error_category, down_exchange.response_status) == ("network", None)
    assert down_exchange.error_summary.startswith("Connection refused by 127.0.0.1:")
    garbage_exchange = ValidationExchange.objects.get(destination=garbage)
    assert (garbage_exchange.error_category, garbage_exchange.response_excerpt) == (
        "invalid_response",
        "<html>oops</html>",
    )
    assert garbage_exchange.error_summary == (
        "The validation URL answered 200 without an accept or reject ResultCode"
    )
    assert_outside_the_delivery_lifecycle()


@pytest.mark.django_db(transaction=True)
def test_a_validation_url_answering_410_gets_the_fallback_and_pauses_nothing(
    client, receiver, endpoint_factory
):
    # Given a destination whose validation URL answers 410 Gone
    endpoint = endpoint_factory(
        user_id="shop1", validation_url=receiver.url("/validate"), validation_fallback="reject"
    )
    receiver.script("/validate", Reply(status=410, body=b"gone"))
    # When M-Pesa asks
    response, _ = validate(client, endpoint)
    # Then M-Pesa gets the fallback, the exchange is recorded as failed, and nothing is dead-lettered
    assert response.json() == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
    exchange = ValidationExchange.objects.get()
    assert (exchange.outcome, exchange.response_status, exchange.error_category) == (
        "fallback",
        410,
        "client_error",
    )
    assert_outside_the_delivery_lifecycle()
    # And the destination is not paused: the next callback is delivered to its main URL
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert post_to(client, endpoint.inbound_path).status_code == 200
    run_worker()
    assert len(receiver.requests_to("/hook")) == 1


@pytest.mark.django_db(transaction=True)
def test_without_a_validation_url_the_fallback_answers_and_the_request_is_relayed(
    client, receiver, endpoint_factory
):
    endpoint = endpoint_factory(user_id="shop1", validation_fallback="reject")
    response, _ = validate(client, endpoint)
    assert response.json() == {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
    run_worker()
    assert len(receiver.requests_to("/hook")) == 1


@pytest.mark.django_db(transaction=True)
def test_the_url_suffix_settles_validation_against_confirmation(client, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    body = json.dumps({**json.loads(VALIDATION), "OrgAccountBalance": "49197.00"}).encode()
    response = post_to(client, endpoint.inbound_path + "/c2b-confirmation", body)
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    assert Callback.objects.get().kind == "c2b_confirmation"
