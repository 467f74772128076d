"""Outbound headers per the Standard Webhooks spec, signed with the endpoint's secret(s)."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook


def standard_webhook_headers(
    *, webhook_id: str, timestamp: datetime, body: bytes, secrets: list[str]
) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` for ``body``.

    Each signature is ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``,
    made by the reference ``standardwebhooks`` library so that any receiver's
    library verifies it; one per secret, space-separated (the spec's way to
    carry a rotation's new and old secret at once). ``body`` must be UTF-8
    (inbound JSON is).
    """
    text = body.decode("utf-8")
    signatures = [Webhook(key).sign(msg_id=webhook_id, timestamp=timestamp, data=text) for key in secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
