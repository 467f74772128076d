"""Ops alerts: an optional JSON POST to ``ALERT_WEBHOOK_URL`` (best effort; the log line always stays)."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from delivery import transport
from delivery.destinations import check_destination

logger = logging.getLogger(__name__)


def send_ops_alert(**fields) -> bool:
    """POST the fields as JSON (plus ``at``) to the alert webhook, if configured; ``True`` when it took it."""
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return False
    body = json.dumps({**fields, "at": timezone.now().isoformat()}).encode()
    try:
        destination = check_destination(url)
    except Exception as exc:  # a bad alert URL must not break the delivery that triggered the alert
        logger.error("Ops alert not sent (%s): %s", urlsplit(url).hostname, exc)
        return False
    result = transport.post(
        url,
        body,
        {"Content-Type": "application/json", "User-Agent": settings.DELIVERY_USER_AGENT},
        host=destination.host,
        address=destination.address,
        connect_timeout=5,
        total_timeout=10,
        max_response_bytes=1024,
    )
    delivered = result.status_code is not None and 200 <= result.status_code <= 299
    if not delivered:
        logger.error(
            "Ops alert not accepted by %s: %s", urlsplit(url).hostname, result.failure or result.status_code
        )
    return delivered
