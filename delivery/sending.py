"""Sending one attempt: check the destination, sign, POST, record the attempt and the next state."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from deadletter.services import dead_letter_create
from delivery import transport
from delivery.circuit import pause_for_gone
from delivery.destinations import DestinationRefused, check_destination
from delivery.models import Delivery, DeliveryAttempt
from delivery.policy import (
    ErrorCategory,
    RetrySettings,
    categorize_status,
    decide_after_failure,
    parse_retry_after,
)
from delivery.services import delivery_enqueue_on_commit
from delivery.signing import standard_webhook_headers
from webhooks.models import Endpoint
from webhooks.priorities import Priority

logger = logging.getLogger(__name__)

_FAILURE_CATEGORIES = {
    "timeout": ErrorCategory.TIMEOUT,
    "network": ErrorCategory.NETWORK,
    "invalid_response": ErrorCategory.INVALID_RESPONSE,
    "destination_refused": ErrorCategory.DESTINATION_REFUSED,
}


# What recording an attempt changes on the delivery (a full save would rewrite every column).
_OUTCOME_FIELDS = (
    "attempt_count",
    "cycle_attempt_count",
    "last_response_status",
    "last_error_category",
    "next_attempt_at",
    "started_delivering_at",
    "status",
    "delivered_at",
    "updated_at",
)


def endpoint_retry_settings(endpoint: Endpoint) -> RetrySettings:
    return RetrySettings(
        max_attempts=endpoint.max_attempts,
        initial_delay=endpoint.initial_delay_seconds,
        multiplier=endpoint.backoff_multiplier,
        max_delay=endpoint.max_delay_seconds,
    )


def attempt_send(
    delivery: Delivery, *, url: str, connect_timeout: float, total_timeout: float, retry: RetrySettings
) -> tuple[str, transport.TransportResult]:
    """Sign and POST a claimed (``delivering``) delivery to ``url``, record the attempt and the next state.

    Returns the attempt's outcome and what the receiver answered. The C2B
    validation exchange uses this too, with the validation URL and budget.
    """
    endpoint = delivery.endpoint
    attempt_number = delivery.attempt_count + 1
    cycle_attempt = delivery.cycle_attempt_count + 1
    body = bytes(delivery.callback.raw_body)
    started_at = timezone.now()
    headers = _delivery_headers(delivery, endpoint, body=body, attempt_number=attempt_number, at=started_at)

    logger.info(
        "🚀 Delivering webhook to %s (delivery %s, attempt %d/%d, %s)",
        redact_url(url),
        delivery.pk,
        cycle_attempt,
        retry.max_attempts,
        Priority(delivery.priority).queue_name,
    )
    result = _post_to_checked_destination(url, body, headers, connect_timeout, total_timeout)
    outcome = _record_outcome(delivery, endpoint, result, attempt_number, cycle_attempt, started_at, retry)
    return outcome, result


def _post_to_checked_destination(
    url: str, body: bytes, headers: dict[str, str], connect_timeout: float, total_timeout: float
) -> transport.TransportResult:
    """Check the destination again now (not only when the endpoint was saved), then POST to that address."""
    try:
        destination = check_destination(url)
    except DestinationRefused as refused:
        return transport.TransportResult(0, failure="destination_refused", error_message=str(refused))
    except OSError as exc:
        return transport.TransportResult(0, failure="network", error_message=f"DNS lookup failed: {exc}")
    return transport.post(
        url,
        body,
        headers,
        host=destination.host,
        address=destination.address,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_response_bytes=settings.DELIVERY_MAX_RESPONSE_BYTES,
    )


def _delivery_headers(
    delivery: Delivery, endpoint: Endpoint, *, body: bytes, attempt_number: int, at: datetime
) -> dict[str, str]:
    """Standard Webhooks headers, plus what the relay knows about the callback (kind, result, id)."""
    callback = delivery.callback
    headers = {
        "Content-Type": "application/json",
        "User-Agent": settings.DELIVERY_USER_AGENT,
        **standard_webhook_headers(
            webhook_id=delivery.webhook_id,
            timestamp=at,
            body=body,
            secrets=endpoint.active_signing_secrets(at),
        ),
        "X-Daraja-Attempt": str(attempt_number),
        "X-Daraja-Priority": Priority(delivery.priority).queue_name,
        "X-Daraja-User-Id": endpoint.user_id,
        "X-Daraja-Kind": callback.kind,
    }
    if callback.result_code:
        headers["X-Daraja-Result-Code"] = callback.result_code
    if callback.correlation_id:
        headers["X-Daraja-Correlation-Id"] = callback.correlation_id
    return headers


def _record_outcome(
    delivery: Delivery,
    endpoint: Endpoint,
    result: transport.TransportResult,
    attempt_number: int,
    cycle_attempt: int,
    started_at: datetime,
    retry: RetrySettings,
) -> str:
    """Write the attempt row and the delivery's next state in one transaction."""
    if result.status_code is not None:
        category = categorize_status(result.status_code)
        error_message = result.error_message
        if category is not None:
            error_message = f"HTTP {result.status_code}" + (f"; {error_message}" if error_message else "")
    else:
        category = _FAILURE_CATEGORIES[result.failure or "network"]
        error_message = result.error_message

    next_attempt_at, retry_delay = None, None
    if category is None:
        outcome = DeliveryAttempt.Outcome.DELIVERED
    else:
        decision = decide_after_failure(
            category,
            cycle_attempts_made=cycle_attempt,
            retry=retry,
            retry_after=parse_retry_after(result.retry_after),
        )
        if decision.holds:
            outcome = DeliveryAttempt.Outcome.HELD
        elif decision.gives_up:
            outcome = DeliveryAttempt.Outcome.DEAD_LETTERED
        else:
            outcome = DeliveryAttempt.Outcome.RETRY_SCHEDULED
            retry_delay = decision.delay
            next_attempt_at = timezone.now() + timedelta(seconds=retry_delay)

    excerpt = result.body.decode("utf-8", errors="replace")[: settings.DELIVERY_RESPONSE_EXCERPT_CHARS]
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            attempt_number=attempt_number,
            cycle=delivery.cycle,
            started_at=started_at,
            duration_ms=result.duration_ms,
            response_status=result.status_code,
            response_excerpt=excerpt,
            error_category=category or "",
            error_message=error_message,
            outcome=outcome,
            next_attempt_at=next_attempt_at,
        )
        delivery.attempt_count = attempt_number
        delivery.cycle_attempt_count = cycle_attempt
        delivery.last_response_status = result.status_code
        delivery.last_error_category = category or ""
        delivery.next_attempt_at = next_attempt_at
        delivery.started_delivering_at = None
        if outcome == DeliveryAttempt.Outcome.DELIVERED:
            delivery.status = Delivery.Status.DELIVERED
            delivery.delivered_at = timezone.now()
        elif outcome == DeliveryAttempt.Outcome.RETRY_SCHEDULED:
            delivery.status = Delivery.Status.RETRYING
            delivery_enqueue_on_commit(delivery, timeout_seconds=endpoint.timeout_seconds, at=next_attempt_at)
        elif outcome == DeliveryAttempt.Outcome.HELD:
            delivery.status = Delivery.Status.HELD
        else:
            delivery.status = Delivery.Status.DEAD
            dead_letter_create(
                delivery=delivery,
                error_category=category,
                error_message=error_message,
                response_status=result.status_code,
            )
        delivery.save(update_fields=_OUTCOME_FIELDS)

    _log_outcome(
        delivery, endpoint, result, category, error_message, outcome, cycle_attempt, retry_delay, retry
    )
    if outcome == DeliveryAttempt.Outcome.HELD:
        pause_for_gone(endpoint)
    return outcome


def _log_outcome(
    delivery, endpoint, result, category, error_message, outcome, cycle_attempt, retry_delay, retry
):
    if outcome == DeliveryAttempt.Outcome.DELIVERED:
        logger.info(
            "✅ Webhook delivered to %s (delivery %s, HTTP %s, %dms)",
            endpoint.user_id,
            delivery.pk,
            result.status_code,
            result.duration_ms,
        )
        return
    logger.warning("❌ Delivery failed: %s (delivery %s, %s)", error_message, delivery.pk, category)
    if outcome == DeliveryAttempt.Outcome.HELD:
        logger.warning("⏸️ Delivery %s held: %s answered 410 Gone", delivery.pk, endpoint.user_id)
    elif outcome == DeliveryAttempt.Outcome.RETRY_SCHEDULED:
        logger.info(
            "⏳ Retrying in %dms (attempt %d/%d)",
            retry_delay * 1000,
            cycle_attempt + 1,
            retry.max_attempts,
        )
    else:
        logger.error(
            "💀 Delivery %s dead-lettered after %d attempt(s): %s", delivery.pk, cycle_attempt, category
        )


def redact_url(url: str) -> str:
    """``scheme://host/path`` of a URL: its query and credentials may carry the merchant's secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
