"""The delivery engine: claim due deliveries in batches, send them concurrently, record outcomes in batches.

A worker's drain job (``drain``) loops:

1. **claim** up to ``DELIVERY_CLAIM_BATCH`` due deliveries in one transaction
   (``delivery.lifecycle.claim_due``: most urgent first, per-endpoint caps
   applied in the statement, a lease on each), while fewer than
   ``DELIVERY_WORKER_CONCURRENCY`` are in flight;
2. **gate** them in memory: a paused endpoint or an open circuit holds its
   deliveries (one UPDATE), except the circuit's probe; a destination that
   fails its check now is an attempt that failed without a request;
3. **send** the rest on the process's event loop (``delivery.sender``),
   signed, without a thread per request;
4. **record** what came back in one transaction per flush (``DELIVERY_FLUSH_MAX``
   outcomes or ``DELIVERY_FLUSH_MS``), then feed the circuit breakers and log.

It stops claiming after ``DRAIN_CLAIM_SECONDS`` (and on a warm shutdown),
lets what is in flight finish and record itself, and wakes another drain if
it left work behind, so one RQ job never runs for long. Deliveries named by
a job (a circuit's probe, a legacy ``deliver_webhook`` job) go through the
same gates, sender and recording, one at a time (``deliver_one``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from daraja.core.masking import redact_url, redact_urls
from daraja.core.request_context import flow_context
from delivery import lifecycle
from delivery.circuit import (
    Gate,
    circuit_gate,
    circuit_record_failures,
    circuit_record_success,
    pause_for_gone,
)
from delivery.destinations import DestinationRefused, check_destination
from delivery.lifecycle import AttemptRecord, Claim
from delivery.policy import AttemptOutcome, RetrySettings, decide_attempt
from delivery.priority import Priority
from delivery.selectors import in_flight
from delivery.sender import SendRequest, process_sender
from delivery.services import endpoint_release_waiting
from delivery.signing import relay_headers
from delivery.transport import TransportResult
from delivery.wakeup import WAKE_KEY_SECONDS, help_wanted, keep_awake, let_wakeups_through, wake_at, wake_now

logger = logging.getLogger(__name__)

# A drain claims for this long at most, then finishes what it sent and ends (another takes over).
DRAIN_CLAIM_SECONDS = 20.0
_IDLE_POLL_SECONDS = 0.02
# While sends are in flight and nothing came back, look for new due work this often.
_IDLE_CLAIM_SECONDS = 0.05

# Set by the worker on a warm shutdown (SIGTERM): stop claiming, let what is in flight finish.
stop_claiming = threading.Event()


def endpoint_retry_settings(endpoint) -> RetrySettings:
    """The retry settings of a destination."""
    return RetrySettings(
        max_attempts=endpoint.max_attempts,
        initial_delay=endpoint.initial_delay_seconds,
        multiplier=endpoint.backoff_multiplier,
        max_delay=endpoint.max_delay_seconds,
    )


@dataclass
class DrainSummary:
    claimed: int = 0
    sent: int = 0
    held: int = 0
    recorded: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class _InFlight:
    claim: Claim
    started_at: object
    retry: RetrySettings


def _sender():
    return process_sender()


def drain(*, priority: int = Priority.NORMAL) -> DrainSummary:
    """Claim, send and record due deliveries until none are left (or the claim time is up).

    While it runs the drain keeps its priority's wake key set, so new
    callbacks queue no further jobs: it finds their rows itself, looking again
    every ``_IDLE_POLL_SECONDS`` for ``DELIVERY_DRAIN_LINGER_MS`` after the last
    work. Before it ends it lets wake-ups through again and looks once more,
    so a row committed at any moment is either seen by it or wakes another drain.
    """
    summary = DrainSummary()
    in_flight: dict[Future, _InFlight] = {}
    done: list[AttemptRecord] = []
    started = time.monotonic()
    claims_made = 0
    look = True  # look for due work at the next turn
    last_look = last_awake = started
    idle_since: float | None = None
    last_look_before_ending = False
    keep_awake(priority)
    while True:
        now = time.monotonic()
        may_claim = not stop_claiming.is_set() and now - started < DRAIN_CLAIM_SECONDS
        if now - last_awake >= WAKE_KEY_SECONDS / 3:
            keep_awake(priority)
            last_awake = now
        room = settings.DELIVERY_WORKER_CONCURRENCY - len(in_flight)
        if may_claim and room > 0 and (look or now - last_look >= _IDLE_CLAIM_SECONDS):
            asked = min(room, settings.DELIVERY_CLAIM_BATCH)
            every_priority = (
                claims_made > 0 and claims_made % max(1, settings.DELIVERY_CLAIM_OLDEST_EVERY) == 0
            )
            claims = lifecycle.claim_due(limit=asked, every_priority=every_priority)
            claims_made += 1
            last_look = time.monotonic()
            look = len(claims) == asked  # a full claim: more is probably due
            if look:
                help_wanted(priority)  # more than this worker can take at once: another worker may help
            if claims:
                idle_since = None
                if last_look_before_ending:
                    last_look_before_ending = False
                    keep_awake(priority)
                _start(claims, in_flight, done, summary)
        if not in_flight and not done:
            if not may_claim:
                break
            if look:
                continue
            if last_look_before_ending:
                break  # nothing came since wake-ups were let through: the next one starts a drain
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settings.DELIVERY_DRAIN_LINGER_MS / 1000:
                let_wakeups_through(priority)
                last_look_before_ending = look = True
                continue
            time.sleep(_IDLE_POLL_SECONDS)
            look = True
            continue
        if in_flight:
            _collect(in_flight, done)
        if done:
            for start in range(0, len(done), max(1, settings.DELIVERY_FLUSH_MAX)):
                _record(done[start : start + max(1, settings.DELIVERY_FLUSH_MAX)], summary)
            done = []
            look = True  # slots were freed
    if not last_look_before_ending:
        # Out of claim time, or stopping: let wake-ups through, and wake another drain for what is left.
        let_wakeups_through(priority)
        if lifecycle.anything_due():
            wake_now(priority)
    return summary


def _start(
    claims: list[Claim], in_flight: dict[Future, _InFlight], done: list[AttemptRecord], summary: DrainSummary
) -> None:
    """Gate fresh claims and send what may go; refused destinations go straight to ``done``."""
    summary.claimed += len(claims)
    sendable, refused, held = _gate(claims)
    summary.held += held
    done.extend(refused)
    for future, flying in _send(sendable):
        in_flight[future] = flying
    summary.sent += len(sendable)


def _collect(in_flight: dict[Future, _InFlight], done: list[AttemptRecord]) -> None:
    """Wait for the first outcome (at most ``_IDLE_CLAIM_SECONDS``), then for whatever else comes
    within the flush window, so one transaction records them all."""
    finished, pending = wait(list(in_flight), timeout=_IDLE_CLAIM_SECONDS, return_when=FIRST_COMPLETED)
    if finished and pending:
        more, _ = wait(pending, timeout=settings.DELIVERY_FLUSH_MS / 1000, return_when=ALL_COMPLETED)
        finished |= more
    for future in finished:
        flying = in_flight.pop(future)
        done.append(_record_of(flying, future.result()))


def deliver_one(delivery_id: int, *, timeout_cap: float | None = None) -> str:
    """Attempt one named waiting delivery now, through the same gates, sender and recording.

    Returns ``"skipped"`` when it is not waiting (delivered, dead, in flight or
    gone), ``"held"``, ``"deferred"`` (its endpoint is at its cap: put back, due
    in a second), or the attempt's outcome. ``timeout_cap`` shortens the
    endpoint's request timeout for this attempt (a person waiting on a page).
    """
    claim = lifecycle.claim_by_id(delivery_id)
    if claim is None:
        logger.info(
            "Delivery %s is not waiting (delivered, dead, in flight or gone): nothing to do", delivery_id
        )
        return "skipped"
    endpoint = claim.endpoint
    if timeout_cap is not None:
        endpoint.timeout_seconds = min(endpoint.timeout_seconds, timeout_cap)  # this attempt only, not saved
    # in_flight counts this claim's own live lease too
    if endpoint.is_active and in_flight(endpoint.pk) - 1 >= endpoint.max_in_flight:
        due = timezone.now() + timedelta(seconds=1)
        lifecycle.release([claim], due_at=due)
        wake_at(claim.priority, due)
        logger.info("Delivery %s deferred: %s is at its concurrency cap", delivery_id, endpoint.user_id)
        return "deferred"
    sendable, refused, held = _gate([claim])
    if held:
        return "held"
    summary = DrainSummary()
    if refused:
        _record(refused, summary)
        return refused[0].decision.outcome
    [(future, flying)] = _send(sendable)
    record = _record_of(flying, future.result())
    _record([record], summary)
    return record.decision.outcome


# --- gates ----------------------------------------------------------------------------------------


def _gate(claims: list[Claim]) -> tuple[list[tuple[Claim, SendRequest | None]], list[AttemptRecord], int]:
    """Split claims into (to send, refused destinations as failed attempts, how many were held)."""
    by_endpoint: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_endpoint[claim.endpoint.pk].append(claim)
    sendable, refused, to_hold = [], [], []
    for group in by_endpoint.values():
        endpoint = group[0].endpoint
        if not endpoint.is_active:
            to_hold.extend(group)
            _log_held(group, f"endpoint {endpoint.user_id} is paused")
            continue
        gate = circuit_gate(endpoint, attempt_timeout=endpoint.timeout_seconds)
        if gate is Gate.HOLD:
            to_hold.extend(group)
            _log_held(group, f"circuit of {endpoint.user_id} is open")
            continue
        if gate is Gate.PROBE:
            to_hold.extend(group[1:])
            _log_held(group[1:], f"circuit of {endpoint.user_id} is open")
            group = group[:1]
            group[0].is_probe = True  # its outcome moves the circuit's probe schedule
        connect_timeout = min(settings.DELIVERY_CONNECT_TIMEOUT, endpoint.timeout_seconds)
        retry = endpoint_retry_settings(endpoint)
        checked = {}
        for claim in group:
            request, failed = _request(
                claim,
                url=endpoint.url,
                connect_timeout=connect_timeout,
                total_timeout=endpoint.timeout_seconds,
                checked=checked,
            )
            if failed is not None:
                refused.append(_record_of(_InFlight(claim, timezone.now(), retry), failed))
            else:
                sendable.append((claim, request))
    if to_hold:
        lifecycle.hold(to_hold)
    return sendable, refused, len(to_hold)


def _log_held(claims: list[Claim], why: str) -> None:
    for claim in claims:
        logger.info("⏸️ Delivery %s held: %s", claim.delivery_id, why)


# --- sending --------------------------------------------------------------------------------------


def _request(
    claim: Claim, *, url: str, connect_timeout: float, total_timeout: float, checked: dict | None = None
) -> tuple[SendRequest | None, TransportResult | None]:
    """The signed request for a claim, or the failure of its destination check (made again now)."""
    try:
        if checked is not None and url in checked:
            destination = checked[url]
        else:
            destination = check_destination(url)
            if checked is not None:
                checked[url] = destination
    except DestinationRefused as refused:
        return None, TransportResult(0, failure="destination_refused", error_message=str(refused))
    except OSError as exc:
        return None, TransportResult(0, failure="network", error_message=f"DNS lookup failed: {exc}")
    now = timezone.now()
    endpoint = claim.endpoint
    headers = relay_headers(
        webhook_id=claim.webhook_id,
        timestamp=now,
        body=claim.raw_body,
        secrets=endpoint.active_signing_secrets(now),
        user_agent=settings.DELIVERY_USER_AGENT,
        attempt_number=claim.attempt_number,
        priority_name=Priority(claim.priority).queue_name,
        user_id=endpoint.user_id,
        kind=claim.kind,
        result_code=claim.result_code,
        correlation_id=claim.correlation_id,
    )
    request = SendRequest(
        url=url,
        body=claim.raw_body,
        headers=headers,
        host=destination.host,
        address=destination.address,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_response_bytes=settings.DELIVERY_MAX_RESPONSE_BYTES,
    )
    return request, None


def _send(sendable: list[tuple[Claim, SendRequest]]) -> list[tuple[Future, _InFlight]]:
    if not sendable:
        return []
    flying = []
    for claim, request in sendable:
        retry = endpoint_retry_settings(claim.endpoint)
        _log_sending(claim, request.url, retry)
        flying.append(_InFlight(claim, timezone.now(), retry))
    futures = _sender().submit([request for _, request in sendable])
    return list(zip(futures, flying, strict=True))


def _log_sending(claim: Claim, url: str, retry: RetrySettings) -> None:
    with flow_context(delivery_id=claim.delivery_id):
        logger.info(
            "🚀 Delivering webhook to %s (delivery %s, attempt %d/%d, %s)",
            redact_url(url),
            claim.delivery_id,
            claim.cycle_attempt,
            retry.max_attempts,
            Priority(claim.priority).queue_name,
        )


# --- recording ------------------------------------------------------------------------------------


def _record_of(flying: _InFlight, result: TransportResult) -> AttemptRecord:
    decision = decide_attempt(
        status_code=result.status_code,
        failure=result.failure,
        # Kept on the attempt and the dead letter and shown to support: no URL's credentials or query.
        error_message=redact_urls(result.error_message),
        retry_after=result.retry_after,
        cycle_attempts_made=flying.claim.cycle_attempt,
        retry=flying.retry,
        is_probe=flying.claim.is_probe,
    )
    excerpt = result.body.decode("utf-8", errors="replace")[: settings.DELIVERY_RESPONSE_EXCERPT_CHARS]
    return AttemptRecord(
        claim=flying.claim,
        started_at=flying.started_at,
        duration_ms=result.duration_ms,
        response_status=result.status_code,
        response_excerpt=excerpt,
        decision=decision,
        retry=flying.retry,
    )


def _record(records: list[AttemptRecord], summary: DrainSummary) -> None:
    recorded = lifecycle.record_attempts(records)
    summary.recorded += len(recorded)
    for record in recorded:
        summary.outcomes[record.decision.outcome] += 1
        _log_outcome(record, record.retry)
    _feed_circuits(recorded)


def _feed_circuits(recorded: list[AttemptRecord]) -> None:
    """Per endpoint, in the order the outcomes came: successes reset, failures count, a 410 pauses."""
    by_endpoint: dict[int, list[AttemptRecord]] = defaultdict(list)
    for record in recorded:
        by_endpoint[record.claim.endpoint.pk].append(record)
    for records in by_endpoint.values():
        endpoint = records[0].claim.endpoint
        failures_after_success = 0
        any_success = False
        for record in records:
            if record.decision.delivered:
                any_success, failures_after_success = True, 0
            elif record.decision.counts_as_failure:
                failures_after_success += 1
        was_probe = any(record.claim.is_probe for record in records)
        if any_success and circuit_record_success(endpoint):
            endpoint_release_waiting(endpoint)
        if failures_after_success:
            circuit_record_failures(endpoint, failures_after_success, was_probe=was_probe)
        if any(record.decision.outcome == AttemptOutcome.HELD for record in records):
            pause_for_gone(endpoint)


def _log_outcome(record: AttemptRecord, retry: RetrySettings) -> None:
    claim, decision = record.claim, record.decision
    with flow_context(delivery_id=claim.delivery_id):
        if decision.delivered:
            logger.info(
                "✅ Webhook delivered to %s (delivery %s, HTTP %s, %dms)",
                claim.endpoint.user_id,
                claim.delivery_id,
                record.response_status,
                record.duration_ms,
            )
            return
        logger.warning(
            "❌ Delivery failed: %s (delivery %s, %s)",
            decision.error_message,
            claim.delivery_id,
            decision.category,
        )
        if decision.outcome == AttemptOutcome.HELD:
            logger.warning(
                "⏸️ Delivery %s held: %s answered 410 Gone", claim.delivery_id, claim.endpoint.user_id
            )
        elif decision.outcome == AttemptOutcome.PROBE_FAILED:
            logger.info(
                "🔌 Probe of %s failed: delivery %s held again, no attempt charged",
                claim.endpoint.user_id,
                claim.delivery_id,
            )
        elif decision.outcome == AttemptOutcome.RETRY_SCHEDULED:
            logger.info(
                "⏳ Retrying in %dms (attempt %d/%d)",
                decision.retry_delay * 1000,
                claim.cycle_attempt + 1,
                retry.max_attempts,
            )
        else:
            logger.error(
                "💀 Delivery %s dead-lettered after %d attempt(s): %s",
                claim.delivery_id,
                claim.cycle_attempt,
                decision.category,
            )
