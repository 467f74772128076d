"""C2B validation: the one synchronous exchange. M-Pesa waits (about 8 s) for the merchant's accept/reject.

The callback is kept and the exchange recorded as a delivery with one
attempt, like any other; the merchant's answer is relayed to M-Pesa, or the
endpoint's fallback when the merchant is slow, down or answers garbage.
A failed exchange is dead-lettered; retrying it from the dead-letter queue
delivers the notice to the endpoint's main URL (the accept/reject window has
long passed by then).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from delivery.models import Delivery
from delivery.policy import RetrySettings
from delivery.sending import attempt_send
from delivery.transport import TransportResult
from webhooks.models import Endpoint, ValidationFallback
from webhooks.mpesa import CallbackFacts
from webhooks.priorities import Priority, PriorityReason
from webhooks.services import callback_create

logger = logging.getLogger(__name__)

ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
REJECT_OTHER = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
_REJECT_CODE = re.compile(r"C2B0001[1-6]")
# One try: a second would land after M-Pesa stopped waiting.
_ONE_TRY = RetrySettings(max_attempts=1, initial_delay=0, multiplier=1, max_delay=0)


def fallback_answer(endpoint: Endpoint) -> dict[str, str]:
    return ACCEPT if endpoint.validation_fallback == ValidationFallback.ACCEPT else REJECT_OTHER


def c2b_validate(
    *,
    endpoint: Endpoint,
    raw_body: bytes,
    payload: dict[str, Any],
    headers: dict[str, str],
    source_ip: str | None,
    facts: CallbackFacts,
) -> dict[str, str]:
    """Keep the request, ask the merchant's validation URL within the budget, return M-Pesa's answer."""
    with transaction.atomic():
        callback = callback_create(
            endpoint=endpoint,
            raw_body=raw_body,
            payload=payload,
            headers=headers,
            source_ip=source_ip,
            facts=facts,
        )
        delivery = Delivery.objects.create(
            callback=callback,
            endpoint=endpoint,
            priority=Priority.URGENT,
            priority_reason=PriorityReason.C2B_VALIDATION,
            status=Delivery.Status.DELIVERING,
            started_delivering_at=timezone.now(),
        )
    budget = settings.C2B_VALIDATION_BUDGET_SECONDS
    connect_timeout = min(settings.DELIVERY_CONNECT_TIMEOUT, budget / 2)
    _, result = attempt_send(
        delivery,
        url=endpoint.validation_url,
        connect_timeout=connect_timeout,
        total_timeout=budget,
        retry=_ONE_TRY,
    )
    answer = merchant_answer(result)
    if answer is None:
        answer = fallback_answer(endpoint)
        logger.warning(
            "⚠️ C2B validation for %s got no usable answer (%s): answered M-Pesa with the fallback %s",
            endpoint.user_id,
            result.failure or f"HTTP {result.status_code}",
            answer["ResultCode"],
        )
    return answer


def merchant_answer(result: TransportResult) -> dict[str, str] | None:
    """The merchant's accept/reject as M-Pesa expects it, or ``None`` when there is no usable answer.

    Usable: a 2xx whose JSON body has ``ResultCode`` ``0``/``"0"`` (accept)
    or one of M-Pesa's rejection codes ``C2B00011`` to ``C2B00016`` (reject).
    """
    if result.status_code is None or not 200 <= result.status_code <= 299:
        return None
    try:
        body = json.loads(result.body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    code = body.get("ResultCode")
    if code in (0, "0"):
        return ACCEPT
    if isinstance(code, str) and _REJECT_CODE.fullmatch(code):
        return {"ResultCode": code, "ResultDesc": "Rejected"}
    return None
