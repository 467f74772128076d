"""Retry policy: which failures are worth retrying, and how long to wait.

Pure functions, no I/O: the table below is the whole policy and is
documented in docs/retry-policy.md.

| category         | when                                    | strategy                          |
| ---------------- | --------------------------------------- | --------------------------------- |
| network          | DNS failure, connection refused/reset   | retry with backoff                |
| timeout          | connect/read timeout, HTTP 408          | retry with backoff                |
| server_error     | HTTP 5xx                                | retry with backoff                |
| rate_limited     | HTTP 429                                | retry after ``Retry-After``       |
| authentication   | HTTP 401, 403                           | dead-letter now                   |
| client_error     | any other HTTP 4xx                      | dead-letter now                   |
| redirect         | HTTP 3xx (redirects are never followed) | dead-letter now                   |
| unexpected_status| HTTP 1xx or a status outside 100-599    | retry with backoff                |
| invalid_response | a response that is not valid HTTP       | retry with backoff                |
| gone             | HTTP 410                                | pause the endpoint, hold          |
| destination_refused | URL resolves to our own network      | dead-letter now                   |
"""

from __future__ import annotations

import email.utils
import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import models

from daraja.core.error_categories import ErrorCategory


class Strategy(enum.Enum):
    RETRY_WITH_BACKOFF = "retry_with_backoff"
    RETRY_AFTER_HEADER = "retry_after_header"
    GIVE_UP = "give_up"
    PAUSE_ENDPOINT = "pause_endpoint"


STRATEGIES: dict[ErrorCategory, Strategy] = {
    ErrorCategory.NETWORK: Strategy.RETRY_WITH_BACKOFF,
    ErrorCategory.TIMEOUT: Strategy.RETRY_WITH_BACKOFF,
    ErrorCategory.SERVER_ERROR: Strategy.RETRY_WITH_BACKOFF,
    ErrorCategory.RATE_LIMITED: Strategy.RETRY_AFTER_HEADER,
    ErrorCategory.AUTHENTICATION: Strategy.GIVE_UP,
    ErrorCategory.CLIENT_ERROR: Strategy.GIVE_UP,
    ErrorCategory.REDIRECT: Strategy.GIVE_UP,
    ErrorCategory.UNEXPECTED_STATUS: Strategy.RETRY_WITH_BACKOFF,
    ErrorCategory.INVALID_RESPONSE: Strategy.RETRY_WITH_BACKOFF,
    ErrorCategory.GONE: Strategy.PAUSE_ENDPOINT,
    ErrorCategory.DESTINATION_REFUSED: Strategy.GIVE_UP,
}


def categorize_status(status_code: int) -> ErrorCategory | None:
    """The category of an HTTP status; ``None`` means delivered (2xx)."""
    if 200 <= status_code <= 299:
        return None
    if status_code == 429:
        return ErrorCategory.RATE_LIMITED
    if status_code in (401, 403):
        return ErrorCategory.AUTHENTICATION
    if status_code == 410:
        return ErrorCategory.GONE
    if status_code == 408:
        return ErrorCategory.TIMEOUT
    if 300 <= status_code <= 399:
        return ErrorCategory.REDIRECT
    if 400 <= status_code <= 499:
        return ErrorCategory.CLIENT_ERROR
    if 500 <= status_code <= 599:
        return ErrorCategory.SERVER_ERROR
    return ErrorCategory.UNEXPECTED_STATUS


@dataclass(frozen=True)
class RetrySettings:
    """An endpoint's retry settings, as plain numbers."""

    max_attempts: int
    initial_delay: float
    multiplier: float
    max_delay: float


def backoff_delay(failed_attempts: int, retry: RetrySettings) -> float:
    """Seconds to wait after the ``failed_attempts``-th failure of a cycle.

    ``initial * multiplier ** (failed_attempts - 1)``, capped at ``max_delay``:
    2 s, 4 s, 8 s… with the defaults.
    """
    exponent = max(failed_attempts - 1, 0)
    try:
        delay = retry.initial_delay * retry.multiplier**exponent
    except OverflowError:
        delay = retry.max_delay
    return min(delay, retry.max_delay)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date); ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryDecision:
    """What to do after a failed attempt: retry after ``delay`` seconds, hold, or give up."""

    delay: float | None
    holds: bool = False

    @property
    def gives_up(self) -> bool:
        return self.delay is None and not self.holds


def decide_after_failure(
    category: ErrorCategory,
    *,
    cycle_attempts_made: int,
    retry: RetrySettings,
    retry_after: float | None = None,
) -> RetryDecision:
    """Retry or give up after the ``cycle_attempts_made``-th attempt of a cycle failed with ``category``.

    Precedence: 410 Gone holds the delivery (its endpoint is paused);
    a give-up category stops at once, whatever attempts remain;
    then an exhausted attempt budget stops; otherwise 429 waits what
    ``Retry-After`` asks (capped at ``max_delay``; backoff when the header is
    missing) and every other retryable category backs off exponentially.
    """
    strategy = STRATEGIES[category]
    if strategy is Strategy.PAUSE_ENDPOINT:
        return RetryDecision(delay=None, holds=True)
    if strategy is Strategy.GIVE_UP or cycle_attempts_made >= retry.max_attempts:
        return RetryDecision(delay=None)
    if strategy is Strategy.RETRY_AFTER_HEADER and retry_after is not None:
        return RetryDecision(delay=min(retry_after, retry.max_delay))
    return RetryDecision(delay=backoff_delay(cycle_attempts_made, retry))


class AttemptOutcome(models.TextChoices):
    """What one attempt led to (the ``outcome`` of its attempt row)."""

    DELIVERED = "delivered", "Delivered"
    RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"
    DEAD_LETTERED = "dead_lettered", "Dead-lettered"
    HELD = "held", "Held (endpoint paused)"
    PROBE_FAILED = "probe_failed", "Probe failed (still held, no attempt charged)"


# Transport failures (no HTTP status) by the category they count in.
_FAILURE_CATEGORIES = {
    "timeout": ErrorCategory.TIMEOUT,
    "network": ErrorCategory.NETWORK,
    "invalid_response": ErrorCategory.INVALID_RESPONSE,
    "destination_refused": ErrorCategory.DESTINATION_REFUSED,
}


@dataclass(frozen=True)
class AttemptDecision:
    """Everything an attempt's result decides: its outcome, category, message and the retry's delay."""

    outcome: str
    category: ErrorCategory | None
    error_message: str
    retry_delay: float | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == AttemptOutcome.DELIVERED

    @property
    def counts_as_failure(self) -> bool:
        """Whether the circuit breaker counts it (a 410 pauses the endpoint instead)."""
        return self.outcome not in (AttemptOutcome.DELIVERED, AttemptOutcome.HELD)

    @property
    def charged(self) -> bool:
        """Whether it uses up one of the cycle's attempts (a failed circuit probe does not)."""
        return self.outcome != AttemptOutcome.PROBE_FAILED


def decide_attempt(
    *,
    status_code: int | None,
    failure: str | None,
    error_message: str,
    retry_after: str | None,
    cycle_attempts_made: int,
    retry: RetrySettings,
    is_probe: bool = False,
) -> AttemptDecision:
    """The outcome of an attempt from what the transport saw; pure.

    ``status_code`` is the receiver's answer (``None`` when there was none,
    ``failure`` then says why: timeout, network, invalid_response,
    destination_refused). ``cycle_attempts_made`` counts this attempt.

    A circuit's probe (``is_probe``) that fails in a way worth retrying is
    ``PROBE_FAILED``: the delivery goes back to held and no attempt of its
    cycle is used up, however many probes it takes; the probe tested the
    endpoint, not the delivery. A probe answered with a give-up status
    (4xx, a redirect) or 410 is decided like any attempt.
    """
    if status_code is not None:
        category = categorize_status(status_code)
        if category is not None:
            error_message = f"HTTP {status_code}" + (f"; {error_message}" if error_message else "")
    else:
        category = _FAILURE_CATEGORIES.get(failure or "network", ErrorCategory.NETWORK)
    if category is None:
        return AttemptDecision(AttemptOutcome.DELIVERED, None, error_message)
    decision = decide_after_failure(
        category,
        cycle_attempts_made=cycle_attempts_made,
        retry=retry,
        retry_after=parse_retry_after(retry_after),
    )
    if decision.holds:
        return AttemptDecision(AttemptOutcome.HELD, category, error_message)
    if is_probe and STRATEGIES[category] is not Strategy.GIVE_UP:
        return AttemptDecision(AttemptOutcome.PROBE_FAILED, category, error_message)
    if decision.gives_up:
        return AttemptDecision(AttemptOutcome.DEAD_LETTERED, category, error_message)
    return AttemptDecision(
        AttemptOutcome.RETRY_SCHEDULED, category, error_message, retry_delay=decision.delay
    )
