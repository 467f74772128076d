"""M-Pesa through the inbound door: kinds and facts kept, duplicates absorbed, priorities, answers."""

import json
from decimal import Decimal

import pytest

from deadletter.models import DeadLetter
from delivery.models import Delivery
from tests.helpers import MPESA_PAYLOADS, post_callback
from tests.support import Reply, run_worker
from webhooks.models import Callback, ValidationExchange

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = MPESA_PAYLOADS


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def body_of(data: dict) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("name", "kind", "answer"),
    [
        ("stk_callback_success.json", "stk_callback", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        ("stk_callback_cancelled.json", "stk_callback", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        ("c2b_confirmation.json", "c2b_confirmation", {"ResultCode": 0, "ResultDesc": "Success"}),
        ("c2b_validation.json", "c2b_validation", {"ResultCode": "0", "ResultDesc": "Accepted"}),
        ("b2c_result_success.json", "b2c_result", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        ("b2c_result_failure.json", "b2c_result", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        ("b2b_result.json", "b2b_result", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        ("reversal_result.json", "reversal_result", {"ResultCode": 0, "ResultDesc": "Accepted"}),
        (
            "transaction_status_result.json",
            "transaction_status_result",
            {"ResultCode": 0, "ResultDesc": "Accepted"},
        ),
        (
            "account_balance_result.json",
            "account_balance_result",
            {"ResultCode": 0, "ResultDesc": "Accepted"},
        ),
    ],
)
def test_every_reference_payload_is_kept_with_its_kind_answered_as_m_pesa_expects_and_labelled(
    client, receiver, endpoint_factory, name, kind, answer
):
    endpoint_factory(user_id="shop1")
    raw = (PAYLOADS / name).read_bytes()
    response = post_callback(client, "shop1", raw)
    assert response.status_code == 200
    assert response.json() == answer
    callback = Callback.objects.get()
    assert callback.kind == kind
    run_worker()
    [request] = receiver.requests_to("/hook")
    assert request.body == raw
    assert request.headers["X-Daraja-Kind"] == kind
    if callback.result_code:
        assert request.headers["X-Daraja-Result-Code"] == callback.result_code
    if callback.correlation_id:
        assert request.headers["X-Daraja-Correlation-Id"] == callback.correlation_id


def test_stk_success_facts_are_stored_in_columns_with_the_phone_masked(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1", (PAYLOADS / "stk_callback_success.json").read_bytes())
    callback = Callback.objects.get()
    assert (callback.result_code, callback.is_success, callback.amount) == ("0", True, Decimal("1.00"))
    assert callback.receipt_number == "NLJ7RT61SV"
    assert callback.checkout_request_id == callback.correlation_id == "ws_CO_191220191020363925"
    assert callback.merchant_request_id == "29115-34620561-1"
    assert callback.phone_number_masked == "2547*****149"
    assert callback.transaction_time.isoformat() == "2019-12-19T07:21:15+00:00"  # 10:21:15 EAT
    assert "254708374149" not in json.dumps(
        {
            f.name: str(getattr(callback, f.name))
            for f in Callback._meta.fields
            if f.name not in ("raw_body", "payload")
        }
    )


def test_odd_insides_are_still_accepted_and_relayed(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    odd = {
        "Body": {"stkCallback": {"ResultCode": "garbage", "CallbackMetadata": {"Item": {"Name": "Balance"}}}}
    }
    assert post_callback(client, "shop1", body_of(odd)).status_code == 200
    run_worker()
    assert Callback.objects.get().kind == "stk_callback"
    assert len(receiver.requests_to("/hook")) == 1


def test_unknown_shapes_are_kept_and_relayed_as_unknown(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    assert post_callback(client, "shop1", b'{"hello": "world"}').status_code == 200
    run_worker()
    [request] = receiver.requests_to("/hook")
    assert request.headers["X-Daraja-Kind"] == "unknown"
    assert "X-Daraja-Correlation-Id" not in request.headers


# --- duplicates -----------------------------------------------------------


def test_a_repeated_callback_is_acknowledged_counted_and_not_delivered_again(
    client, receiver, endpoint_factory
):
    endpoint_factory(user_id="shop1")
    raw = (PAYLOADS / "stk_callback_success.json").read_bytes()
    first = post_callback(client, "shop1", raw)
    run_worker()
    again = post_callback(client, "shop1", raw)
    third = post_callback(client, "shop1", json.dumps(json.loads(raw)).encode())  # same facts, other spacing
    run_worker()
    assert first.json() == again.json() == third.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    callback = Callback.objects.get()
    assert callback.duplicate_count == 2
    assert callback.last_duplicate_at is not None
    assert Delivery.objects.count() == 1
    assert len(receiver.requests_to("/hook")) == 1


def test_a_different_result_for_the_same_id_is_news_not_a_duplicate(client, receiver, endpoint_factory):
    endpoint_factory(user_id="shop1")
    cancelled = payload("stk_callback_cancelled.json")
    success = payload("stk_callback_success.json")
    success["Body"]["stkCallback"]["CheckoutRequestID"] = cancelled["Body"]["stkCallback"][
        "CheckoutRequestID"
    ]
    post_callback(client, "shop1", body_of(cancelled))
    post_callback(client, "shop1", body_of(success))
    run_worker()
    assert Callback.objects.count() == 2
    assert len(receiver.requests_to("/hook")) == 2


def test_a_repeat_after_the_window_is_delivered_again(client, receiver, endpoint_factory, settings):
    settings.DUPLICATE_WINDOW_HOURS = 72
    endpoint_factory(user_id="shop1")
    raw = (PAYLOADS / "c2b_confirmation.json").read_bytes()
    post_callback(client, "shop1", raw)
    from datetime import timedelta

    from django.utils import timezone

    Callback.objects.update(received_at=timezone.now() - timedelta(hours=73))
    post_callback(client, "shop1", raw)
    assert Callback.objects.count() == 2


def test_duplicates_are_per_endpoint(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    endpoint_factory(user_id="shop2")
    raw = (PAYLOADS / "c2b_confirmation.json").read_bytes()
    post_callback(client, "shop1", raw)
    post_callback(client, "shop2", raw)
    assert Delivery.objects.count() == 2


# --- payment-aware priority -------------------------------------------------


def stk_with(result_code, amount) -> bytes:
    data = payload("stk_callback_success.json")
    data["Body"]["stkCallback"]["ResultCode"] = result_code
    data["Body"]["stkCallback"]["CheckoutRequestID"] = f"ws_CO_{result_code}_{amount}"
    data["Body"]["stkCallback"]["CallbackMetadata"]["Item"][0]["Value"] = amount
    return body_of(data)


@pytest.mark.parametrize(
    ("body", "endpoint_settings", "priority", "reason"),
    [
        (stk_with(1032, 10), {}, 20, "failed_payment"),
        (stk_with("1", 10), {}, 20, "failed_payment"),
        (stk_with(0, 150_000), {}, 10, "high_value"),
        (stk_with(0, 5_000), {"high_value_threshold": Decimal("5000")}, 10, "high_value"),
        (stk_with(0, 4_999), {"high_value_threshold": Decimal("5000")}, 5, "endpoint_default"),
        ((PAYLOADS / "account_balance_result.json").read_bytes(), {}, 1, "informational"),
        ((PAYLOADS / "transaction_status_result.json").read_bytes(), {}, 1, "informational"),
        (stk_with(0, 10), {"default_priority": 10}, 10, "endpoint_default"),
        (stk_with(1032, 10), {"priority_override": 1}, 1, "override"),
        (stk_with(1032, 10), {"use_payment_rules": False}, 5, "endpoint_default"),
        ((PAYLOADS / "b2c_result_failure.json").read_bytes(), {}, 20, "failed_payment"),
    ],
)
def test_priority_rules(client, endpoint_factory, body, endpoint_settings, priority, reason):
    endpoint_factory(user_id="shop1", **endpoint_settings)
    assert post_callback(client, "shop1", body).status_code == 200
    delivery = Delivery.objects.get()
    assert (delivery.priority, delivery.priority_reason) == (priority, reason)


# --- finding a payment ------------------------------------------------------------


def test_a_payment_is_found_by_the_ids_people_quote(client, endpoint_factory):
    from webhooks.selectors import callbacks_matching

    endpoint_factory(user_id="shop1")
    for name in ["stk_callback_success.json", "c2b_confirmation.json", "b2c_result_success.json"]:
        post_callback(client, "shop1", (PAYLOADS / name).read_bytes())
    stk = Callback.objects.get(kind="stk_callback")
    c2b = Callback.objects.get(kind="c2b_confirmation")
    b2c = Callback.objects.get(kind="b2c_result")
    assert list(callbacks_matching("NLJ7RT61SV")) == [stk]
    assert list(callbacks_matching("nlj7rt61sv")) == [stk]
    assert list(callbacks_matching("ws_CO_191220191020363925")) == [stk]
    assert list(callbacks_matching(c2b.trans_id)) == [c2b]
    assert list(callbacks_matching(b2c.conversation_id)) == [b2c]
    assert set(callbacks_matching("149")) == {stk, c2b}  # both documented samples are 2547*****149
    assert list(callbacks_matching("")) == []
    assert list(callbacks_matching("nothing-like-it")) == []


# --- C2B: the URL (or the order of arrival) says what the message is ------------------------

CORPUS = PAYLOADS / "corpus"
VALIDATION_WITH_BALANCE = (CORPUS / "safaricom_c2b_validation_with_balance.json").read_bytes()


def test_a_validation_never_counts_as_money_moved(client, endpoint_factory):
    # Given an endpoint without a validation URL (its fallback answers)
    endpoint = endpoint_factory(user_id="shop1")
    # When Safaricom's validation sample (balance set) arrives on the validation path
    client.generic(
        "POST", endpoint.inbound_path + "/c2b-validation", VALIDATION_WITH_BALANCE, "application/json"
    )
    # Then it is kept as a validation, not a success, with no receipt
    callback = Callback.objects.get()
    assert (callback.kind, callback.is_success, callback.receipt_number) == ("c2b_validation", None, "")
    assert callback.deliveries.get().priority == 5


def test_a_confirmation_with_a_blank_balance_on_the_confirmation_path_is_a_success(client, endpoint_factory):
    endpoint = endpoint_factory(user_id="shop1")
    body = body_of({**payload("c2b_confirmation.json"), "OrgAccountBalance": ""})
    response = client.generic("POST", endpoint.inbound_path + "/c2b-confirmation", body, "application/json")
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    callback = Callback.objects.get()
    assert (callback.kind, callback.is_success, callback.receipt_number) == (
        "c2b_confirmation",
        True,
        "LGR219G3EY",
    )


def test_on_a_shared_legacy_url_the_validation_is_asked_and_the_confirmation_follows(
    client, receiver, endpoint_factory
):
    # Given a legacy endpoint whose validation URL rejects with its own text
    endpoint_factory(user_id="old-shop", allow_legacy_path=True, validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ResultCode": "C2B00012", "ResultDesc": "No such invoice"}'))
    # When Safaricom's validation sample (balance set) comes to the bare path
    response = client.generic("POST", "/webhook/old-shop", VALIDATION_WITH_BALANCE, "application/json")
    # Then the merchant was asked and M-Pesa gets the merchant's rejection
    assert response.json() == {"ResultCode": "C2B00012", "ResultDesc": "No such invoice"}
    assert len(receiver.requests_to("/validate")) == 1
    # And when the same TransID comes again, it is the confirmation
    response = client.generic("POST", "/webhook/old-shop", VALIDATION_WITH_BALANCE, "application/json")
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    kinds = list(Callback.objects.order_by("id").values_list("kind", "is_success"))
    assert kinds == [("c2b_validation", None), ("c2b_confirmation", True)]


def test_an_unusable_2xx_validation_answer_is_a_failed_exchange_not_a_dead_letter(
    client, receiver, endpoint_factory
):
    # Given a validation URL that answers 200 with no accept/reject
    endpoint = endpoint_factory(user_id="shop1", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(body=b'{"ok": true}'))
    # When a validation arrives
    response = client.generic(
        "POST", endpoint.inbound_path + "/c2b-validation", VALIDATION_WITH_BALANCE, "application/json"
    )
    # Then M-Pesa gets the fallback and the exchange is recorded as failed, outside the delivery lifecycle
    assert response.json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    exchange = ValidationExchange.objects.get()
    assert (exchange.outcome, exchange.error_category, exchange.response_status) == (
        "fallback",
        "invalid_response",
        200,
    )
    assert exchange.response_excerpt == '{"ok": true}'
    assert not Delivery.objects.exists()
    assert not DeadLetter.objects.exists()
