"""Logs keep their readable lines, mask phone numbers and never carry the signing secret."""

import logging

import pytest

from daraja.core.logging import MaskPersonalDataFilter
from daraja.core.masking import mask_phone_numbers
from tests.helpers import post_callback
from tests.support import Reply, run_worker


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("254708374149", "2547*****149"),
        ("0712345678", "07*****678"),
        ("+254112345678", "+2541*****678"),
        ("paid from 254708374149 at 20191219102115", "paid from 2547*****149 at 20191219102115"),
        ("2547 ***** 126", "2547 ***** 126"),
        ("2547083741491", "2547083741491"),
    ],
)
def test_mask_phone_numbers(text, masked):
    assert mask_phone_numbers(text) == masked


def test_the_filter_masks_arguments_before_any_handler_formats_them():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "phone %s", ("254708374149",), None)
    MaskPersonalDataFilter().filter(record)
    assert record.getMessage() == "phone 2547*****149"


@pytest.mark.django_db(transaction=True)
def test_a_delivery_logs_the_original_lines_and_no_secret(client, receiver, endpoint_factory, caplog):
    endpoint = endpoint_factory(user_id="shop1", url=receiver.url("/hook?token=merchant-secret"))
    receiver.script("/hook?token=merchant-secret", Reply(status=500))
    caplog.set_level(logging.INFO)
    post_callback(client, "shop1")
    run_worker(until=lambda: len(receiver.requests) == 2)
    text = caplog.text
    assert f"🚀 Delivering webhook to {receiver.url('/hook?[redacted]')} " in text
    assert "❌ Delivery failed: HTTP 500" in text
    assert "⏳ Retrying in 200ms (attempt 2/3)" in text
    assert "✅ Webhook delivered" in text
    assert endpoint.signing_secret not in text
    assert "merchant-secret" not in text
