"""A delivery's timeline as every admin page shows it: received, each attempt, each dead-letter retry or
purge, and where it stands now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string

from deadletter.models import DeadLetter
from delivery.circuit import describe_circuit
from delivery.errors import error_summary_of
from delivery.models import Delivery, DeliveryAttempt

NEXT_STEP = {
    DeliveryAttempt.Outcome.DELIVERED: "Delivered: the shop's app accepted it",
    DeliveryAttempt.Outcome.RETRY_SCHEDULED: "Failed; will try again",
    DeliveryAttempt.Outcome.DEAD_LETTERED: "Gave up: moved to the dead-letter queue",
    DeliveryAttempt.Outcome.HELD: "Held: the endpoint is paused",
    DeliveryAttempt.Outcome.PROBE_FAILED: "Probe failed: held again (no attempt used up)",
}


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime | None
    title: str
    tone: str = ""
    attempt: DeliveryAttempt | None = None
    next_step: str = ""
    error_summary: str = ""


def delivery_timeline(delivery: Delivery) -> list[TimelineEvent]:
    """Everything that happened to ``delivery``, in order: received, every attempt, every
    dead-letter retry or purge, and where it stands now."""
    events = [TimelineEvent(delivery.callback.received_at, "Received from M-Pesa and stored", "info")]
    for attempt in delivery.attempts.all():
        next_step = NEXT_STEP.get(attempt.outcome, attempt.get_outcome_display())
        tone = "ok" if attempt.outcome == DeliveryAttempt.Outcome.DELIVERED else "fail"
        title = f"Attempt {attempt.attempt_number}"
        if attempt.cycle > 1:
            title += f" (round {attempt.cycle})"
        summary = error_summary_of(attempt)
        events.append(TimelineEvent(attempt.started_at, title, tone, attempt, next_step, summary))
    for dead_letter in delivery.dead_letters.all():
        if dead_letter.resolution == DeadLetter.Resolution.RETRIED:
            title = "Retried from the dead-letter queue: a new round of attempts, same webhook id"
            events.append(TimelineEvent(dead_letter.resolved_at, title, "info"))
        elif dead_letter.resolution == DeadLetter.Resolution.PURGED:
            title = "Purged from the dead-letter queue: no more attempts"
            events.append(TimelineEvent(dead_letter.resolved_at, title, "fail"))
    events.sort(key=lambda event: event.at)
    events.append(_where_it_stands(delivery))
    return events


def _where_it_stands(delivery: Delivery) -> TimelineEvent:
    status = Delivery.Status
    if delivery.status == status.DELIVERED:
        return TimelineEvent(delivery.delivered_at, "Now: delivered", "ok")
    if delivery.status == status.DEAD:
        return TimelineEvent(None, "Now: waiting in the dead-letter queue for a person to retry it", "fail")
    if delivery.status == status.RETRYING:
        return TimelineEvent(delivery.next_attempt_at, "Now: waiting for the next attempt", "wait")
    if delivery.status == status.HELD:
        return TimelineEvent(None, f"Now: held. {describe_circuit(delivery.endpoint)}", "wait")
    if delivery.status == status.DELIVERING:
        return TimelineEvent(delivery.started_delivering_at, "Now: being delivered", "wait")
    return TimelineEvent(None, "Now: waiting for a worker to send it", "wait")


def render_timeline(delivery: Delivery) -> str:
    return render_to_string(
        "admin/delivery/timeline.html", {"delivery": delivery, "events": delivery_timeline(delivery)}
    )
