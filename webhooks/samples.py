"""Sample callbacks, for trying a setup out: the test endpoints and the admin's "Send a test delivery"."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from delivery.priority import Priority
from webhooks.inbound import parse_json_object
from webhooks.models import Endpoint, Merchant
from webhooks.received import ReceivedCallback, read_facts


def sample_callback(
    *,
    merchant: Merchant,
    destinations: Sequence[Endpoint],
    user_agent: str,
    source_ip: str | None = None,
    priority_override: Priority | None = None,
    every_kind: bool = False,
) -> ReceivedCallback:
    """A successful STK payment of KES 1 with fresh ids (``sample_stk_callback``), received for ``merchant``.

    The payload is read as the door reads one (phone numbers masked); it goes
    to ``destinations`` (all of them whatever kinds they receive when
    ``every_kind``), at ``priority_override`` when given.
    """
    raw_body = json.dumps(sample_stk_callback()).encode()
    payload = parse_json_object(raw_body)
    return ReceivedCallback(
        merchant=merchant,
        destinations=destinations,
        raw_body=raw_body,
        payload=payload,
        headers={"Content-Type": "application/json", "User-Agent": user_agent},
        source_ip=source_ip,
        facts=read_facts(payload),
        priority_override=priority_override,
        every_kind=every_kind,
    )


def sample_stk_callback() -> dict:
    """A successful STK push result with fresh ids, as M-Pesa documents it."""
    suffix = uuid.uuid4().hex[:12]
    return {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": f"test-{suffix}",
                "CheckoutRequestID": f"ws_CO_test_{suffix}",
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {
                    "Item": [
                        {"Name": "Amount", "Value": 1.0},
                        {"Name": "MpesaReceiptNumber", "Value": f"T{suffix[:9].upper()}"},
                        {"Name": "TransactionDate", "Value": 20191219102115},
                        {"Name": "PhoneNumber", "Value": 254708374149},
                    ]
                },
            }
        }
    }
