"""Outbound headers per the Standard Webhooks spec, signed with the endpoint's secret."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook


def standard_webhook_headers(
    *, webhook_id: str, timestamp: datetime, body: bytes, secret: str
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``body``.

    The signature is ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``,
    made by the reference ``standardwebhooks`` library so that any
    receiver's library verifies it. ``body`` must be UTF-8 (inbound JSON is).
    """
    signature = Webhook(secret).sign(msg_id=webhook_id, timestamp=timestamp, data=body.decode("utf-8"))
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
