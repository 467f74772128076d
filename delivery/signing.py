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


def relay_headers(
    *,
    webhook_id: str,
    timestamp: datetime,
    body: bytes,
    secrets: list[str],
    user_agent: str,
    attempt_number: int,
    priority_name: str,
    user_id: str,
    kind: str,
    result_code: str,
    correlation_id: str,
) -> dict[str, str]:
    """Every header the relay's outbound contract puts on a request to a merchant's app, in order.

    The Standard Webhooks headers, then ``X-Daraja-Attempt``, ``-Priority``,
    ``-User-Id`` and ``-Kind``; ``X-Daraja-Result-Code`` and
    ``X-Daraja-Correlation-Id`` only when the callback has them. Every
    request the relay makes to a merchant's app carries exactly these.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        **standard_webhook_headers(webhook_id=webhook_id, timestamp=timestamp, body=body, secrets=secrets),
        "X-Daraja-Attempt": str(attempt_number),
        "X-Daraja-Priority": priority_name,
        "X-Daraja-User-Id": user_id,
        "X-Daraja-Kind": kind,
    }
    if result_code:
        headers["X-Daraja-Result-Code"] = result_code
    if correlation_id:
        headers["X-Daraja-Correlation-Id"] = correlation_id
    return headers
