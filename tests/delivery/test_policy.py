"""The retry policy as pure functions: categories, backoff, Retry-After, give-up rules."""

from datetime import UTC, datetime

import pytest

from daraja.core.error_categories import ErrorCategory
from delivery.policy import (
    AttemptOutcome,
    RetrySettings,
    backoff_delay,
    categorize_status,
    decide_after_failure,
    decide_attempt,
    parse_retry_after,
)

DEFAULTS = RetrySettings(max_attempts=3, initial_delay=2, multiplier=2, max_delay=3600)


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (200, None),
        (204, None),
        (299, None),
        (301, ErrorCategory.REDIRECT),
        (308, ErrorCategory.REDIRECT),
        (400, ErrorCategory.CLIENT_ERROR),
        (401, ErrorCategory.AUTHENTICATION),
        (403, ErrorCategory.AUTHENTICATION),
        (404, ErrorCategory.CLIENT_ERROR),
        (408, ErrorCategory.TIMEOUT),
        (429, ErrorCategory.RATE_LIMITED),
        (500, ErrorCategory.SERVER_ERROR),
        (503, ErrorCategory.SERVER_ERROR),
        (101, ErrorCategory.UNEXPECTED_STATUS),
        (600, ErrorCategory.UNEXPECTED_STATUS),
    ],
)
def test_categorize_status(status, category):
    assert categorize_status(status) == category


def test_backoff_is_two_four_eight_seconds_by_default_and_capped():
    assert [backoff_delay(n, DEFAULTS) for n in (1, 2, 3)] == [2, 4, 8]
    capped = RetrySettings(max_attempts=10, initial_delay=2, multiplier=2, max_delay=5)
    assert [backoff_delay(n, capped) for n in (1, 2, 3, 4)] == [2, 4, 5, 5]
    huge = RetrySettings(max_attempts=50, initial_delay=2, multiplier=10, max_delay=60)
    assert backoff_delay(10_000, huge) == 60


@pytest.mark.parametrize(
    "category", [ErrorCategory.NETWORK, ErrorCategory.TIMEOUT, ErrorCategory.SERVER_ERROR]
)
def test_retryable_categories_back_off_until_the_budget_is_spent(category):
    assert decide_after_failure(category, cycle_attempts_made=1, retry=DEFAULTS).delay == 2
    assert decide_after_failure(category, cycle_attempts_made=2, retry=DEFAULTS).delay == 4
    assert decide_after_failure(category, cycle_attempts_made=3, retry=DEFAULTS).gives_up


@pytest.mark.parametrize(
    "category", [ErrorCategory.CLIENT_ERROR, ErrorCategory.AUTHENTICATION, ErrorCategory.REDIRECT]
)
def test_permanent_failures_give_up_without_burning_attempts(category):
    assert decide_after_failure(category, cycle_attempts_made=1, retry=DEFAULTS).gives_up


def test_rate_limited_waits_what_retry_after_asks_capped_at_max_delay():
    assert (
        decide_after_failure(
            ErrorCategory.RATE_LIMITED, cycle_attempts_made=1, retry=DEFAULTS, retry_after=30
        ).delay
        == 30
    )
    assert (
        decide_after_failure(
            ErrorCategory.RATE_LIMITED, cycle_attempts_made=1, retry=DEFAULTS, retry_after=99_999
        ).delay
        == 3600
    )
    assert decide_after_failure(ErrorCategory.RATE_LIMITED, cycle_attempts_made=1, retry=DEFAULTS).delay == 2
    assert decide_after_failure(
        ErrorCategory.RATE_LIMITED, cycle_attempts_made=3, retry=DEFAULTS, retry_after=1
    ).gives_up


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") is None


# --- a circuit's probe -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status_code", "failure"),
    [(503, None), (429, None), (None, "network"), (None, "timeout"), (None, "invalid_response")],
)
def test_a_failed_probe_holds_again_and_is_not_charged_even_with_the_budget_spent(status_code, failure):
    decision = decide_attempt(
        status_code=status_code,
        failure=failure,
        error_message="",
        retry_after=None,
        cycle_attempts_made=DEFAULTS.max_attempts,  # a normal attempt would dead-letter here
        retry=DEFAULTS,
        is_probe=True,
    )
    assert decision.outcome == AttemptOutcome.PROBE_FAILED
    assert (decision.charged, decision.counts_as_failure, decision.retry_delay) == (False, True, None)


@pytest.mark.parametrize(
    ("status_code", "outcome"),
    [(200, AttemptOutcome.DELIVERED), (400, AttemptOutcome.DEAD_LETTERED), (410, AttemptOutcome.HELD)],
)
def test_a_probe_answered_otherwise_is_decided_like_any_attempt(status_code, outcome):
    decision = decide_attempt(
        status_code=status_code,
        failure=None,
        error_message="",
        retry_after=None,
        cycle_attempts_made=1,
        retry=DEFAULTS,
        is_probe=True,
    )
    assert decision.outcome == outcome
    assert decision.charged
