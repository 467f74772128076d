"""C2B validation: the one synchronous exchange. M-Pesa waits (about 8 s) for the merchant's accept/reject.

The callback is kept and the exchange recorded as a delivery with one
attempt, like any other; the merchant's answer is relayed to M-Pesa (a
rejection with the merchant's own text), or the endpoint's fallback when the
merchant is slow, down or answers something unusable. A failed exchange — no
answer, an error status, or a 2xx whose body is no accept/reject — is
dead-lettered; retrying it from the dead-letter queue delivers the notice to
the endpoint's main URL (the accept/reject window has long passed by then).

``inbound_facts`` decides, for the inbound door, whether a C2B-shaped body is a
validation or a confirmation (see its docstring).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from daraja.core.error_categories import ErrorCategory
from delivery.models import Delivery
from delivery.policy import AttemptDecision, AttemptOutcome, RetrySettings
from delivery.priority import Priority, PriorityReason
from delivery.sending import attempt_send
from delivery.transport import TransportResult
from webhooks.models import Callback, Endpoint, Merchant, ValidationFallback
from webhooks.mpesa import CallbackFacts, CallbackKind, extract_facts
from webhooks.mpesa.kinds import C2B_KINDS
from webhooks.services import callback_create

logger = logging.getLogger(__name__)

ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
REJECT_OTHER = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
_REJECT_CODE = re.compile(r"C2B0001[1-6]")
# M-Pesa shows ResultDesc to nobody but logs it; keep the merchant's text, bounded.
_MAX_DESCRIPTION_CHARS = 100
# One try: a second would land after M-Pesa stopped waiting.
_ONE_TRY = RetrySettings(max_attempts=1, initial_delay=0, multiplier=1, max_delay=0)


def validating_destination(destinations: Sequence[Endpoint]) -> Endpoint | None:
    """The destination marked to answer C2B validation (the one with a validation URL), if any.

    A validation is an answer M-Pesa waits for, not a fan-out: at most one
    destination of a merchant has a validation URL (``Endpoint.clean``).
    """
    return next((destination for destination in destinations if destination.validation_url), None)


def fallback_answer(destinations: Sequence[Endpoint]) -> dict[str, str]:
    """M-Pesa's answer when no validation URL answers: the validating destination's fallback, else the
    first destination's (a merchant with none accepts)."""
    answering = validating_destination(destinations) or next(iter(destinations), None)
    if answering is None or answering.validation_fallback == ValidationFallback.ACCEPT:
        return ACCEPT
    return REJECT_OTHER


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
            merchant=endpoint.merchant,
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
    result, answer = _exchange(
        delivery, url=endpoint.validation_url, connect_timeout=connect_timeout, budget=budget
    )
    if answer is None:
        answer = fallback_answer([endpoint])
        logger.warning(
            "⚠️ C2B validation for %s got no usable answer (%s): answered M-Pesa with the fallback %s",
            endpoint.user_id,
            result.failure or f"HTTP {result.status_code}",
            answer["ResultCode"],
        )
    return answer


def _exchange(
    delivery: Delivery, *, url: str, connect_timeout: float, budget: float
) -> tuple[TransportResult, dict[str, str] | None]:
    """Send the validation request once and record the attempt, judged by the answer's use to M-Pesa.

    A 2xx without a usable accept/reject is recorded as a dead-lettered
    ``invalid_response`` (the policy alone would call any 2xx delivered).
    """

    def judge(result: TransportResult, decision: AttemptDecision) -> AttemptDecision:
        if decision.delivered and merchant_answer(result) is None:
            return unusable_answer_decision()
        return decision

    _, result = attempt_send(
        delivery, url=url, connect_timeout=connect_timeout, total_timeout=budget, retry=_ONE_TRY, judge=judge
    )
    answer = merchant_answer(result)
    return result, answer


def unusable_answer_decision() -> AttemptDecision:
    """A 2xx that is no accept/reject: M-Pesa got the fallback, so the exchange failed."""
    return AttemptDecision(
        outcome=AttemptOutcome.DEAD_LETTERED,
        category=ErrorCategory.INVALID_RESPONSE,
        error_message="The validation URL answered 2xx without a usable ResultCode (0 or C2B00011-C2B00016)",
    )


def inbound_facts(*, merchant: Merchant, payload: dict[str, Any], hint: str | None) -> CallbackFacts:
    """The facts of an inbound body; for a C2B body, whether it is a validation or a confirmation.

    Precedence:

    1. The URL suffix (``c2b-validation``/``c2b-confirmation``) settles it: the
       success flag, receipt and priority follow what the URL says.
    2. On the generic path, a blank ``OrgAccountBalance`` is a validation.
    3. On the generic path of a merchant with a validation URL, any other
       C2B body is a validation the first time its ``TransID`` reaches this
       merchant, and a confirmation after that. M-Pesa always validates before it
       confirms (when validation is enabled for the shortcode), and Safaricom's
       own validation sample carries a balance, so the payload cannot tell.
    4. Otherwise the payload's guess stands: a confirmation.

    A merchant who uses validation should register the two C2B paths;
    rule 3 is for merchants that share one URL.
    """
    if hint:
        return extract_facts(payload, c2b_kind=CallbackKind(hint.replace("-", "_")))
    facts = extract_facts(payload)
    if (
        facts.kind is CallbackKind.C2B_CONFIRMATION
        and validating_destination(merchant.destination_list)
        and facts.trans_id
        and not Callback.objects.filter(
            merchant=merchant, trans_id=facts.trans_id, kind__in=C2B_KINDS
        ).exists()
    ):
        return extract_facts(payload, c2b_kind=CallbackKind.C2B_VALIDATION)
    return facts


def merchant_answer(result: TransportResult) -> dict[str, str] | None:
    """The merchant's accept/reject as M-Pesa expects it, or ``None`` when there is no usable answer.

    Usable: a 2xx whose JSON body has ``ResultCode`` ``0``/``"0"`` (accept)
    or one of M-Pesa's rejection codes ``C2B00011`` to ``C2B00016`` (reject). A
    rejection keeps the merchant's ``ResultDesc`` (cut to 100 characters), or
    "Rejected" when it has none.
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
        description = body.get("ResultDesc")
        description = description.strip()[:_MAX_DESCRIPTION_CHARS] if isinstance(description, str) else ""
        return {"ResultCode": code, "ResultDesc": description or "Rejected"}
    return None
