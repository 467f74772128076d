"""Sending one delivery the caller already holds (the C2B validation exchange)."""

from __future__ import annotations

from collections.abc import Callable

from delivery import lifecycle
from delivery.models import Delivery
from delivery.policy import AttemptDecision, RetrySettings
from delivery.transport import TransportResult


def attempt_send(
    delivery: Delivery,
    *,
    url: str,
    connect_timeout: float,
    total_timeout: float,
    retry: RetrySettings,
    judge: Callable[[TransportResult, AttemptDecision], AttemptDecision] | None = None,
) -> tuple[str, TransportResult]:
    """Sign and POST a delivery its caller created "delivering" to ``url``; record the attempt and next state.

    Returns the attempt's outcome and what the receiver answered. The C2B
    validation exchange uses this with the validation URL and its budget;
    its outcome does not move the endpoint's circuit (the exchange is not a
    delivery to the endpoint's main URL). ``judge`` may replace the policy's
    decision before it is recorded.
    """
    from delivery.engine import send_claimed

    claim = lifecycle.lease_new(delivery, timeout_seconds=total_timeout)
    return send_claimed(
        claim, url=url, connect_timeout=connect_timeout, total_timeout=total_timeout, retry=retry, judge=judge
    )
