"""Small helpers shared by the tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

STK_SUCCESS = {
    "Body": {
        "stkCallback": {
            "MerchantRequestID": "29115-34620561-1",
            "CheckoutRequestID": "ws_CO_191220191020363925",
            "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {
                "Item": [
                    {"Name": "Amount", "Value": 1.0},
                    {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                    {"Name": "TransactionDate", "Value": 20191219102115},
                    {"Name": "PhoneNumber", "Value": 254708374149},
                ]
            },
        }
    }
}


def stk_body(checkout_id: str = "ws_CO_191220191020363925") -> bytes:
    """An STK callback body with odd spacing, so byte-for-byte relaying is visible."""
    payload = json.loads(json.dumps(STK_SUCCESS))
    payload["Body"]["stkCallback"]["CheckoutRequestID"] = checkout_id
    return json.dumps(payload, indent=1).encode()


def inbound_path(user_id: str) -> str:
    from webhooks.models import Merchant

    return Merchant.objects.get(user_id=user_id).inbound_path


def post_to(client, path: str, body: bytes | None = None, content_type: str = "application/json", **extra):
    """POST to ``path``; without a body, a fresh STK callback (its own CheckoutRequestID), so two calls
    are two payments, not a duplicate."""
    if body is None:
        body = stk_body(f"ws_CO_{uuid.uuid4().hex[:16]}")
    return client.generic("POST", path, body, content_type, **extra)


def post_callback(client, user_id: str, body: bytes | None = None, content_type: str = "application/json"):
    """POST a callback to the user's inbound path (token included), as M-Pesa would (``post_to``)."""
    return post_to(client, inbound_path(user_id), body, content_type)


# The documented M-Pesa callback payloads the tests send (tests/webhooks/mpesa/payloads).
MPESA_PAYLOADS = Path(__file__).resolve().parent / "webhooks" / "mpesa" / "payloads"
