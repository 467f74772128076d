"""Phone numbers: masked in what the relay keeps to read (payload, facts) and shows (admin, API);
the raw body, which is delivered byte for byte, keeps them until ``prune`` erases it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from daraja.api_keys import api_key_create
from delivery.models import Delivery
from tests.helpers import MPESA_PAYLOADS, post_callback, stk_body
from tests.support import run_worker
from webhooks.models import Callback

pytestmark = pytest.mark.django_db(transaction=True)

FULL = "254708374149"
PAYLOADS = MPESA_PAYLOADS


def test_an_stk_callback_is_kept_with_the_phone_masked_and_delivered_byte_for_byte(
    client, receiver, endpoint_factory
):
    # given an STK callback carrying the customer's number (as a JSON number)
    endpoint_factory(user_id="shop1")
    body = stk_body("ws_CO_phone_1")
    assert FULL.encode() in body

    # when it is received and delivered
    assert post_callback(client, "shop1", body).status_code == 200
    run_worker()

    # then the payload kept to read has the number masked, the raw body is untouched and the
    # merchant gets the full number
    callback = Callback.objects.get()
    items = callback.payload["Body"]["stkCallback"]["CallbackMetadata"]["Item"]
    assert {"Name": "PhoneNumber", "Value": "2547*****149"} in items
    assert FULL not in json.dumps(callback.payload)
    assert callback.phone_number_masked == "2547*****149"
    assert bytes(callback.raw_body) == body
    assert receiver.requests_to("/hook")[0].body == body


def test_a_c2b_msisdn_and_a_number_inside_a_text_are_masked(client, endpoint_factory):
    endpoint_factory(user_id="shop1")
    payload = json.loads((PAYLOADS / "c2b_confirmation.json").read_text())
    payload["BillRefNumber"] = "paid for +254712345678"
    body = json.dumps(payload).encode()

    assert post_callback(client, "shop1", body).status_code == 200

    stored = Callback.objects.get().payload
    assert (stored["MSISDN"], stored["BillRefNumber"]) == ("2547*****149", "paid for +2547*****678")


def test_neither_support_nor_an_api_key_sees_a_full_phone_number(
    client, endpoint_factory, support_client, staff_client
):
    endpoint_factory(user_id="shop1")
    post_callback(client, "shop1", stk_body("ws_CO_phone_2"))
    callback = Callback.objects.get()
    delivery = Delivery.objects.get()
    _, key = api_key_create(name="ops")
    api = Client(headers={"Authorization": f"Bearer {key}"})

    for page in (
        support_client.get(f"/admin/webhooks/callback/{callback.pk}/change/"),
        support_client.get(f"/admin/delivery/delivery/{delivery.pk}/change/"),
        staff_client.get(f"/admin/webhooks/callback/{callback.pk}/change/"),
        api.get(f"/api/v1/callbacks/{callback.pk}/"),
        api.get("/api/v1/callbacks/"),
    ):
        assert page.status_code == 200
        assert FULL.encode() not in page.content
    assert b"2547*****149" in support_client.get(f"/admin/webhooks/callback/{callback.pk}/change/").content


def test_payloads_stored_before_masking_are_masked_by_the_upgrade_command(endpoint_factory):
    from io import StringIO

    from django.core.management import call_command

    from tests.ops import rows

    # given callbacks stored by an older relay, one with a full number, one already masked
    endpoint = endpoint_factory(user_id="shop1")
    legacy = rows.callback(endpoint, payload={"MSISDN": FULL, "Amount": "10.00"}, raw_body=FULL.encode())
    masked = rows.callback(endpoint, payload={"MSISDN": "2547*****149"})

    # when the command runs (twice: the second run finds nothing to do)
    out = StringIO()
    call_command("mask_stored_payloads", "--batch-size", "1", stdout=out)
    call_command("mask_stored_payloads", stdout=out)

    # then the number is masked in the payload, the raw body is left for delivery, the rest unchanged
    legacy.refresh_from_db()
    assert legacy.payload == {"MSISDN": "2547*****149", "Amount": "10.00"}
    assert bytes(legacy.raw_body) == FULL.encode()
    assert Callback.objects.get(pk=masked.pk).payload == {"MSISDN": "2547*****149"}
    assert out.getvalue().splitlines() == [
        "Masked the phone numbers of 1 stored payloads.",
        "Masked the phone numbers of 0 stored payloads.",
    ]
