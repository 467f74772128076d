"""C2B validation: the one synchronous exchange. M-Pesa waits (about 8 s) for the merchant's accept/reject.

The callback is kept, then the validation request goes once to the
validating destination's validation URL over ``delivery.transport``, signed
with the same headers as any delivery, within
``C2B_VALIDATION_BUDGET_SECONDS``. The merchant's answer is relayed to M-Pesa
(a rejection with the merchant's own text), or the destination's fallback
when the merchant is slow, down or answers something unusable. Each exchange
is recorded as a ``ValidationExchange``.

The exchange is no delivery: it has no retries and no dead letter, and it
never moves the destination's circuit or pause switch (a validation URL
answering 410 is a failed validation like any other, answered with the
fallback). The window for an answer closes with M-Pesa's wait, so there is
nothing left to retry.

``inbound_facts`` decides, for the inbound door, whether a C2B-shaped body is a
validation or a confirmation (see its docstring).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from daraja.core.error_categories import ErrorCategory
from daraja.core.masking import redact_url, redact_urls
from delivery import transport
from delivery.destinations import DestinationRefused, check_destination
from delivery.models import new_webhook_id
from delivery.policy import categorize_status
from delivery.priority import Priority
from delivery.signing import relay_headers
from delivery.transport import TransportResult
from webhooks.models import Callback, Endpoint, Merchant, ValidationExchange, ValidationFallback
from webhooks.mpesa import CallbackFacts, CallbackKind, extract_facts
from webhooks.mpesa.kinds import C2B_KINDS
from webhooks.services import callback_create

logger = logging.getLogger(__name__)

ACCEPT = {"ResultCode": "0", "ResultDesc": "Accepted"}
REJECT_OTHER = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
_REJECT_CODE = re.compile(r"C2B0001[1-6]")
# M-Pesa shows ResultDesc to nobody but logs it; keep the merchant's text, bounded.
_MAX_DESCRIPTION_CHARS = 100
UNUSABLE_ANSWER = "The validation URL answered 2xx without a usable ResultCode (0 or C2B00011-C2B00016)"


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
    """Keep the request, ask the validation URL within the budget, record the exchange, answer M-Pesa."""
    with transaction.atomic():
        callback = callback_create(
            merchant=endpoint.merchant,
            raw_body=raw_body,
            payload=payload,
            headers=headers,
            source_ip=source_ip,
            facts=facts,
        )
    webhook_id = new_webhook_id()
    sent_at = timezone.now()
    logger.info(
        "🚀 C2B validation for %s sent to %s (%s)",
        endpoint.user_id,
        redact_url(endpoint.validation_url),
        webhook_id,
    )
    result = validation_post(endpoint, callback, webhook_id=webhook_id, sent_at=sent_at)
    answer = merchant_answer(result)
    failure = None
    if answer is None:
        failure = validation_failure(result, budget=settings.C2B_VALIDATION_BUDGET_SECONDS)
    if failure is not None:
        answer = fallback_answer([endpoint])
        logger.warning(
            "⚠️ C2B validation for %s got no usable answer (%s): answered M-Pesa with the fallback %s",
            endpoint.user_id,
            result.failure or f"HTTP {result.status_code}",
            answer["ResultCode"],
        )
        if result.status_code == 410:
            logger.warning(
                "⚠️ The validation URL of %s answered 410 Gone: nothing is paused, the fallback answers",
                endpoint.user_id,
            )
    validation_exchange_record(
        endpoint=endpoint,
        callback=callback,
        webhook_id=webhook_id,
        sent_at=sent_at,
        result=result,
        answer=answer,
        failure=failure,
    )
    return answer


def validation_post(
    endpoint: Endpoint, callback: Callback, *, webhook_id: str, sent_at: datetime
) -> TransportResult:
    """POST the kept request to ``endpoint``'s validation URL once, signed; never raises for network trouble.

    The URL is checked again now (the destination guard), and the connection
    goes to the address checked. The whole exchange, connecting included, is
    bounded by ``C2B_VALIDATION_BUDGET_SECONDS``; connecting alone by
    ``DELIVERY_CONNECT_TIMEOUT`` or half the budget, whichever is shorter.
    """
    url = endpoint.validation_url
    try:
        destination = check_destination(url)
    except DestinationRefused as refused:
        return TransportResult(0, failure="destination_refused", error_message=str(refused))
    except OSError as exc:
        return TransportResult(0, failure="network", error_message=f"DNS lookup failed: {exc}")
    budget = settings.C2B_VALIDATION_BUDGET_SECONDS
    headers = relay_headers(
        webhook_id=webhook_id,
        timestamp=sent_at,
        body=bytes(callback.raw_body),
        secrets=endpoint.active_signing_secrets(sent_at),
        user_agent=settings.DELIVERY_USER_AGENT,
        attempt_number=1,
        priority_name=Priority.URGENT.queue_name,
        user_id=endpoint.user_id,
        kind=callback.kind,
        result_code=callback.result_code,
        correlation_id=callback.correlation_id,
    )
    return transport.post(
        url,
        bytes(callback.raw_body),
        headers,
        host=destination.host,
        address=destination.address,
        connect_timeout=min(settings.DELIVERY_CONNECT_TIMEOUT, budget / 2),
        total_timeout=budget,
        max_response_bytes=settings.DELIVERY_MAX_RESPONSE_BYTES,
    )


def validation_failure(result: TransportResult, *, budget: float) -> tuple[str, str]:
    """Why ``result`` is no usable answer: (error category, message for engineers).

    A 410 is a client error here: a validation URL's 410 concerns that URL,
    not the destination's deliveries, so it pauses nothing. A timeout names
    the budget, in the words the delivery sender uses, so that its summary
    for people reads "No answer within 5 s" like a delivery's.
    """
    if result.status_code is None:
        category = result.failure if result.failure in ErrorCategory.values else ErrorCategory.NETWORK
        message = redact_urls(result.error_message)
        if category == ErrorCategory.TIMEOUT:
            message = f"no complete answer within the {budget:g} s deadline: {message}"
        return category, message
    category = categorize_status(result.status_code)
    if category is None:
        return ErrorCategory.INVALID_RESPONSE, UNUSABLE_ANSWER
    if category == ErrorCategory.GONE:
        category = ErrorCategory.CLIENT_ERROR
    detail = redact_urls(result.error_message)
    return category, f"HTTP {result.status_code}" + (f"; {detail}" if detail else "")


def validation_exchange_record(
    *,
    endpoint: Endpoint,
    callback: Callback,
    webhook_id: str,
    sent_at: datetime,
    result: TransportResult,
    answer: dict[str, str],
    failure: tuple[str, str] | None,
) -> ValidationExchange:
    """Save what one validation exchange sent, got back and answered M-Pesa."""
    if failure is not None:
        outcome = ValidationExchange.Outcome.FALLBACK
    elif answer["ResultCode"] == ACCEPT["ResultCode"]:
        outcome = ValidationExchange.Outcome.ACCEPTED
    else:
        outcome = ValidationExchange.Outcome.REJECTED
    category, message = failure or ("", "")
    return ValidationExchange.objects.create(
        merchant_id=endpoint.merchant_id,
        destination=endpoint,
        callback=callback,
        webhook_id=webhook_id,
        sent_at=sent_at,
        duration_ms=result.duration_ms,
        response_status=result.status_code,
        response_excerpt=result.body.decode("utf-8", errors="replace")[
            : settings.DELIVERY_RESPONSE_EXCERPT_CHARS
        ],
        outcome=outcome,
        answer_code=answer["ResultCode"],
        error_category=category,
        error_message=message,
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
