"""/api/v1/callbacks/: find a payment, its delivery and every attempt, retry now, filters, pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Delivery
from tests.helpers import MPESA_PAYLOADS
from tests.support import Reply, run_worker
from webhooks.models import Callback

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACKS = "/api/v1/callbacks/"


def checkout_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["checkout_request_id"] for row in response.json()["results"]]


def test_find_a_payment_by_any_of_its_ids(operator, two_shops, receive):
    wanted = receive("shop_a", "ws_CO_wanted")
    receive("shop_a")
    receipt = Callback.objects.get(checkout_request_id=wanted).receipt_number
    Callback.objects.exclude(checkout_request_id=wanted).update(receipt_number="OTHER00001")
    assert checkout_ids(operator.get(CALLBACKS, {"q": wanted})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"q": receipt})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"q": receipt.lower()})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"receipt_number": receipt})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"checkout_request_id": wanted})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"q": "ws_CO_nobody"})) == []
    Callback.objects.filter(checkout_request_id=wanted).update(trans_id="RKTQDM7W6S")
    assert checkout_ids(operator.get(CALLBACKS, {"trans_id": "RKTQDM7W6S"})) == [wanted]
    assert checkout_ids(operator.get(CALLBACKS, {"q": "RKTQDM7W6S"})) == [wanted]


def test_filters_by_status_priority_kind_user_and_time(operator, two_shops, receiver, receive):
    receiver.script("/b", Reply(status=400))
    a = receive("shop_a")
    b = receive("shop_b")
    run_worker()
    assert checkout_ids(operator.get(CALLBACKS, {"status": "delivered"})) == [a]
    assert checkout_ids(operator.get(CALLBACKS, {"status": "dead"})) == [b]
    assert checkout_ids(operator.get(CALLBACKS, {"user_id": "shop_b"})) == [b]
    assert checkout_ids(operator.get(CALLBACKS, {"priority": "normal", "kind": "stk_callback"})) == [b, a]
    assert checkout_ids(operator.get(CALLBACKS, {"priority": "urgent"})) == []
    assert checkout_ids(operator.get(CALLBACKS, {"kind": "b2c_result"})) == []

    Callback.objects.filter(checkout_request_id=a).update(received_at=timezone.now() - timedelta(days=2))
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert checkout_ids(operator.get(CALLBACKS, {"received_before": yesterday})) == [a]
    assert checkout_ids(operator.get(CALLBACKS, {"received_after": yesterday})) == [b]


def test_a_date_time_with_an_offset_postgres_cannot_store_still_filters(operator, two_shops, receive):
    """ISO 8601 allows +17:20; Postgres refuses offsets past 15:59, so the filter compares in UTC."""
    a = receive("shop_a")
    an_hour_ago_far_east = (timezone.now() - timedelta(hours=1)).astimezone(
        timezone.get_fixed_timezone(17 * 60 + 20)
    )
    response = operator.get(CALLBACKS, {"received_after": an_hour_ago_far_east.isoformat()})
    assert response.status_code == 200
    assert checkout_ids(response) == [a]
    response = operator.get(CALLBACKS, {"received_before": an_hour_ago_far_east.isoformat()})
    assert checkout_ids(response) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"priority": "asap"}, "priority"),
        ({"kind": "stk"}, "kind"),
        ({"received_after": "yesterday"}, "received_after"),
        ({"received_before": "0001-01-01T00:00:00+03:00"}, "received_before"),
        ({"received_after": "9999-12-31T23:59:59-05:00"}, "received_after"),
        ({"q": "x" * 129}, "q"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "201"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_a_bad_filter_is_400_naming_it(operator, two_shops, receive, params, field):
    receive("shop_a")
    response = operator.get(CALLBACKS, params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert list(response.json()["detail"]) == [field]


def test_detail_shows_the_payload_the_delivery_and_every_attempt(operator, two_shops, receiver, receive):
    receiver.script("/a", Reply(status=503, body=b"busy"))
    receive("shop_a", "ws_CO_detail")
    run_worker(until=lambda: Delivery.objects.get().status == Delivery.Status.DELIVERED)
    callback = Callback.objects.get()
    response = operator.get(f"{CALLBACKS}{callback.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["payload"]["Body"]["stkCallback"]["CheckoutRequestID"] == "ws_CO_detail"
    assert (body["user_id"], body["kind"], body["is_success"]) == ("shop_a", "stk_callback", True)
    delivery = body["delivery"]
    assert (delivery["status"], delivery["attempt_count"], delivery["priority"]) == ("delivered", 2, "normal")
    assert delivery["webhook_id"] == Delivery.objects.get().webhook_id
    first, second = delivery["attempts"]
    assert (first["attempt_number"], first["response_status"], first["error_category"]) == (
        1,
        503,
        "server_error",
    )
    assert (first["outcome"], first["response_excerpt"]) == ("retry_scheduled", "busy")
    assert first["error_summary"] == "The shop's app answered 503"
    assert second["error_summary"] == ""
    assert (second["attempt_number"], second["response_status"], second["outcome"]) == (2, 200, "delivered")


def test_a_c2b_validation_shows_what_the_validation_url_answered(
    operator, client, endpoint_factory, receiver
):
    # given a destination whose validation URL is failing
    endpoint = endpoint_factory(user_id="shop_a", validation_url=receiver.url("/validate"))
    receiver.script("/validate", Reply(status=503, body=b"busy"))
    # when M-Pesa asks it to validate a payment
    body = (MPESA_PAYLOADS / "c2b_validation.json").read_bytes()
    client.generic("POST", endpoint.inbound_path + "/c2b-validation", body, "application/json")
    # then the callback shows the exchange (no delivery), in the list and in the detail
    [listed] = operator.get(CALLBACKS).json()["results"]
    assert (listed["kind"], listed["deliveries"], listed["delivery"]) == ("c2b_validation", [], None)
    detail = operator.get(f"{CALLBACKS}{listed['id']}/").json()
    for shown in (listed["validation"], detail["validation"]):
        assert (shown["destination"], shown["response_status"], shown["response_excerpt"]) == (
            endpoint.name,
            503,
            "busy",
        )
        assert (shown["outcome"], shown["answer_code"], shown["error_category"]) == (
            "fallback",
            "0",
            "server_error",
        )
        assert shown["error_summary"] == "The shop's app answered 503"
        assert shown["webhook_id"] == receiver.requests_to("/validate")[0].headers["webhook-id"]


def test_retry_now_delivers_a_delivery_waiting_for_its_backoff(operator, endpoint_factory, receiver, receive):
    endpoint_factory(user_id="shop1", initial_delay_seconds=3600)
    receiver.script("/hook", Reply(status=500))
    receive("shop1")
    run_worker(until=lambda: Delivery.objects.get().status == Delivery.Status.RETRYING)
    callback = Callback.objects.get()

    response = operator.post(f"{CALLBACKS}{callback.pk}/retry/")
    assert response.status_code == 200
    assert response.json() == {"queued": 1}
    run_worker(until=lambda: Delivery.objects.get().status == Delivery.Status.DELIVERED)
    assert len(receiver.requests_to("/hook")) == 2
    # nothing is waiting any more: nothing to queue
    assert operator.post(f"{CALLBACKS}{callback.pk}/retry/").json() == {"queued": 0}


def test_pages_stay_stable_while_new_callbacks_arrive(operator, two_shops, receive):
    # given five callbacks, read two per page
    old = [receive("shop_a") for _ in range(5)]
    first = operator.get(CALLBACKS, {"page_size": 2})
    seen = checkout_ids(first)
    assert seen == old[::-1][:2]
    # when three more arrive before the next pages are read
    new = [receive("shop_a") for _ in range(3)]
    next_url = first.json()["next"]
    while next_url:
        page = operator.client.get(next_url)
        seen += checkout_ids(page)
        next_url = page.json()["next"]
    # then every old callback is seen exactly once, in order, and the new ones wait at the top
    assert seen == old[::-1]
    assert checkout_ids(operator.get(CALLBACKS, {"page_size": 3})) == new[::-1]
    assert first.json()["previous"] is None
