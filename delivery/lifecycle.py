"""The one owner of a delivery's status: every transition, named, conditional and batch-capable.

Nothing else writes ``Delivery.status``. Each transition is a conditional
UPDATE (it changes only rows still in the state it expects), so two workers,
a sweep and a person in the admin can act at once and each row moves once.

    pending/retrying ──claim──▶ delivering ──record──▶ delivered | retrying | dead | held
          ▲  ▲                    │  │
          │  └──── release ───────┘  └── hold (paused, circuit open) ──▶ held
          │                                                               │
          ├──── make_due (retry now, resume, circuit closed, sweep) ◀─────┘
          └──── reopen (dead-letter retry: new cycle, same webhook-id) ◀── dead

A claim is a lease: ``lease_token`` names the claim and ``lease_expires_at``
(the endpoint's timeout plus ``DELIVERY_LEASE_MARGIN_SECONDS``) says until
when it holds. A row whose lease ran out (its worker died) is claimable
again, and an outcome is recorded only under the token that claimed it, so
a worker that outlived its lease cannot overwrite the next attempt; the
unique (delivery, attempt_number) key refuses its attempt row as well.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from deadletter.services import GaveUp, dead_letters_open
from delivery.claim_sql import due_candidates_sql
from delivery.models import Delivery, DeliveryAttempt
from delivery.policy import AttemptDecision, AttemptOutcome, RetrySettings
from delivery.queues import next_whole_second
from delivery.wakeup import wake_at_on_commit, wake_on_commit

logger = logging.getLogger(__name__)

Status = Delivery.Status
# Waiting for a worker: their first attempt, a retry, or their endpoint (paused, circuit open).
WAITING_STATUSES = (Status.PENDING, Status.RETRYING, Status.HELD)
# What the claim takes when due; held deliveries are made due first (``make_due``).
CLAIMABLE_STATUSES = (Status.PENDING, Status.RETRYING)
# Any constant: the key of the advisory lock that makes claims on Postgres take turns.
_CLAIM_LOCK_KEY = 0x44415241  # "DARA"


def waiting_status(cycle_attempt_count: int) -> str:
    """The status of a delivery that waits without an attempt charged: retrying once a cycle has begun."""
    return Status.RETRYING if cycle_attempt_count else Status.PENDING


@dataclass
class Claim:
    """A delivery a worker holds under a lease, with everything sending it needs."""

    delivery_id: int
    token: str
    webhook_id: str
    priority: int
    attempt_count: int
    cycle: int
    cycle_attempt_count: int
    callback_id: int
    raw_body: bytes
    kind: str
    result_code: str
    correlation_id: str
    endpoint: Any  # the destination, with its circuit loaded (``endpoint.circuit``)
    is_probe: bool = False  # the one delivery an open circuit lets through

    @property
    def attempt_number(self) -> int:
        return self.attempt_count + 1

    @property
    def cycle_attempt(self) -> int:
        return self.cycle_attempt_count + 1


@dataclass
class AttemptRecord:
    """One attempt to write: what was sent and what came of it."""

    claim: Claim
    started_at: datetime
    duration_ms: int
    response_status: int | None
    response_excerpt: str
    decision: AttemptDecision
    retry: RetrySettings | None = None

    @property
    def next_attempt_at(self) -> datetime | None:
        if self.decision.retry_delay is None:
            return None
        return self.started_at + timedelta(milliseconds=self.duration_ms, seconds=self.decision.retry_delay)


class LeaseLost(Exception):
    """The delivery is no longer held under this claim's token (its lease ran out and it was taken)."""


# --- claim -------------------------------------------------------------------------------------


def claim_due(*, limit: int, every_priority: bool = False) -> list[Claim]:
    """Claim up to ``limit`` due deliveries, most urgent first, in one transaction.

    Due: pending or retrying with ``next_attempt_at`` passed (or unset), of an
    active endpoint, or "delivering" under a lease that ran out. Per endpoint
    no more are claimed than its ``max_in_flight`` leaves room for, counting
    every worker's live leases, so one merchant never fills a batch past its
    share and a merchant at its cap costs the claim nothing. With
    ``every_priority`` each priority gets a quarter of ``limit`` first
    (oldest first), so low priority is never starved by a stream of urgent work.
    On Postgres claims take turns on an advisory lock (they are short); on
    SQLite the write lock does the same.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CLAIM_LOCK_KEY])
        chosen = _due_candidates(now, limit, every_priority)
        if len(chosen) < limit:
            expired = _expired_leases(now, limit - len(chosen))
            for delivery_id, _ in expired:
                logger.warning(
                    "🧹 Delivery %s: its worker's lease ran out mid-attempt; claimed again", delivery_id
                )
            chosen += expired
        by_timeout: dict[float, list[int]] = defaultdict(list)
        for delivery_id, timeout in chosen:
            by_timeout[timeout].append(delivery_id)
        claimable = Q(status__in=CLAIMABLE_STATUSES) | Q(status=Status.DELIVERING, lease_expires_at__lte=now)
        for timeout, ids in by_timeout.items():
            Delivery.objects.filter(claimable, pk__in=ids).update(
                status=Status.DELIVERING,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=timeout + settings.DELIVERY_LEASE_MARGIN_SECONDS),
                started_delivering_at=now,
                updated_at=now,
            )
        ids = [delivery_id for delivery_id, _ in chosen]
        return _load_claims(ids, token)


def anything_due() -> bool:
    """Whether any delivery of an active endpoint is due now (pending or retrying, its time come)."""
    return (
        Delivery.objects.filter(status__in=CLAIMABLE_STATUSES, endpoint__is_active=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .exists()
    )


def claim_by_id(delivery_id: int) -> Claim | None:
    """Claim one waiting delivery (pending, retrying or held), due or not; ``None`` if it is not waiting.

    For jobs that name their delivery: a circuit's probe, a legacy
    ``deliver_webhook`` job. Delivered, dead and in-flight deliveries are left alone.
    """
    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        row = (
            Delivery.objects.filter(pk=delivery_id)
            .values_list("endpoint__timeout_seconds", flat=True)
            .first()
        )
        if row is None:
            return None
        claimed = Delivery.objects.filter(pk=delivery_id, status__in=WAITING_STATUSES).update(
            status=Status.DELIVERING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=row + settings.DELIVERY_LEASE_MARGIN_SECONDS),
            started_delivering_at=now,
            updated_at=now,
        )
        if not claimed:
            return None
        (claim,) = _load_claims([delivery_id], token)
        return claim


def _destinations():
    """The destinations' model, through ``Delivery.endpoint`` (delivery does not import ``webhooks``)."""
    return Delivery._meta.get_field("endpoint").related_model


def _due_candidates(now: datetime, limit: int, every_priority: bool) -> list[tuple[int, float]]:
    """(id, endpoint timeout) of due deliveries the claim may take, in claim order."""
    at = connection.ops.adapt_datetimefield_value(now)
    sql, params = due_candidates_sql(
        delivery_table=Delivery._meta.db_table,
        endpoint_table=_destinations()._meta.db_table,
        limit=limit,
        every_priority=every_priority,
        at=at,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _expired_leases(now: datetime, limit: int) -> list[tuple[int, float]]:
    """(id, endpoint timeout) of "delivering" rows whose lease ran out: their worker died mid-attempt.

    Whether the receiver got that attempt cannot be known; the next one
    carries the same webhook-id (docs/reliability.md). No attempt is charged.
    """
    rows = (
        Delivery.objects.filter(status=Status.DELIVERING, lease_expires_at__lte=now, endpoint__is_active=True)
        .order_by("-priority", "pk")
        .values_list("pk", "endpoint__timeout_seconds")[:limit]
    )
    return [(pk, float(timeout)) for pk, timeout in rows]


_CLAIM_FIELDS = (
    "pk",
    "webhook_id",
    "priority",
    "attempt_count",
    "cycle",
    "cycle_attempt_count",
    "callback_id",
    "endpoint_id",
    "callback__raw_body",
    "callback__kind",
    "callback__result_code",
    "callback__correlation_id",
)


def _load_claims(ids: Sequence[int], token: str) -> list[Claim]:
    if not ids:
        return []
    rows = list(
        Delivery.objects.filter(pk__in=ids, lease_token=token)
        .order_by("-priority", "pk")
        .values_list(*_CLAIM_FIELDS)
    )
    endpoints = _destinations()._default_manager.select_related("circuit").in_bulk({row[7] for row in rows})
    return [
        Claim(
            delivery_id=pk,
            token=token,
            webhook_id=webhook_id,
            priority=priority,
            attempt_count=attempt_count,
            cycle=cycle,
            cycle_attempt_count=cycle_attempt_count,
            callback_id=callback_id,
            raw_body=bytes(raw_body),
            kind=kind,
            result_code=result_code,
            correlation_id=correlation_id,
            endpoint=endpoints[endpoint_id],
        )
        for (
            pk,
            webhook_id,
            priority,
            attempt_count,
            cycle,
            cycle_attempt_count,
            callback_id,
            endpoint_id,
            raw_body,
            kind,
            result_code,
            correlation_id,
        ) in rows
    ]


# --- give a claim back without an attempt --------------------------------------------------------


def _held_by(claims: Iterable[Claim]) -> Q:
    by_token: dict[str, list[int]] = defaultdict(list)
    for claim in claims:
        by_token[claim.token].append(claim.delivery_id)
    condition = Q(pk__in=[])
    for token, ids in by_token.items():
        condition |= Q(pk__in=ids, lease_token=token)
    return condition & Q(status=Status.DELIVERING)


_NO_LEASE = {"lease_token": "", "lease_expires_at": None, "started_delivering_at": None}


def hold(claims: Sequence[Claim]) -> int:
    """Held: the endpoint is paused or its circuit is open. No attempt is charged.

    A held delivery has no next-attempt time of its own (it goes when its
    endpoint is resumed or its circuit closes), so none is kept.
    """
    if not claims:
        return 0
    return Delivery.objects.filter(_held_by(claims)).update(
        status=Status.HELD, next_attempt_at=None, updated_at=timezone.now(), **_NO_LEASE
    )


def release(claims: Sequence[Claim], *, due_at: datetime | None = None) -> int:
    """Back to waiting as it was (pending, or retrying within a cycle), due at ``due_at``; no attempt charged.

    For a claim that was not sent: the endpoint reached its cap meanwhile, or the worker is stopping.
    """
    released = 0
    now = timezone.now()
    for status, group in _by_waiting_status(claims).items():
        released += Delivery.objects.filter(_held_by(group)).update(
            status=status, next_attempt_at=due_at or now, updated_at=now, **_NO_LEASE
        )
    return released


def _by_waiting_status(claims: Iterable[Claim]) -> dict[str, list[Claim]]:
    groups: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        groups[waiting_status(claim.cycle_attempt_count)].append(claim)
    return groups


# --- record what attempts came to ----------------------------------------------------------------


def record_attempts(records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """Write the attempts and each delivery's next state in one transaction; returns what was recorded.

    Attempt rows, delivery states, dead letters and the wake-ups of retries
    all commit together. When the database refuses the flush (a lease that
    ran out, a row it rejects), the records are written one by one, so one
    bad row costs only itself: it is logged and its delivery, still
    "delivering", comes back when its lease runs out.
    """
    if not records:
        return []
    try:
        with transaction.atomic():
            _write(records)
        return list(records)
    except (LeaseLost, IntegrityError, DatabaseError) as exc:
        if len(records) == 1:
            _log_unrecorded(records[0], exc)
            return []
        logger.warning(
            "Recording %d attempts together failed (%s); recording them one by one", len(records), exc
        )
    recorded = []
    for record in records:
        try:
            with transaction.atomic():
                _write([record])
        except (LeaseLost, IntegrityError, DatabaseError) as exc:
            _log_unrecorded(record, exc)
            continue
        recorded.append(record)
    return recorded


def _log_unrecorded(record: AttemptRecord, exc: Exception) -> None:
    if isinstance(exc, LeaseLost):
        logger.error(
            "Delivery %s: attempt %d not recorded: its lease ran out and another worker took the delivery",
            record.claim.delivery_id,
            record.claim.attempt_number,
        )
    else:
        logger.error(
            "Delivery %s: attempt %d not recorded (%s); it is attempted again when its lease runs out",
            record.claim.delivery_id,
            record.claim.attempt_number,
            exc,
        )


_NEXT_STATUS = {
    AttemptOutcome.DELIVERED: Status.DELIVERED,
    AttemptOutcome.RETRY_SCHEDULED: Status.RETRYING,
    AttemptOutcome.DEAD_LETTERED: Status.DEAD,
    AttemptOutcome.HELD: Status.HELD,
    AttemptOutcome.PROBE_FAILED: Status.HELD,
}


def _write(records: Sequence[AttemptRecord]) -> None:
    now = timezone.now()
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery_id=record.claim.delivery_id,
                attempt_number=record.claim.attempt_number,
                cycle=record.claim.cycle,
                started_at=record.started_at,
                duration_ms=record.duration_ms,
                response_status=record.response_status,
                response_excerpt=record.response_excerpt,
                error_category=record.decision.category or "",
                error_message=record.decision.error_message,
                outcome=record.decision.outcome,
                next_attempt_at=record.next_attempt_at,
            )
            for record in records
        ]
    )
    # Rows that change alike share one UPDATE: on a healthy stream that is one for the whole flush.
    groups: dict[tuple, list[int]] = defaultdict(list)
    for record in records:
        key = (
            record.claim.token,
            _NEXT_STATUS[record.decision.outcome],
            record.response_status,
            record.decision.category or "",
            record.next_attempt_at,
            record.decision.charged,
        )
        groups[key].append(record.claim.delivery_id)
    updated = 0
    for (token, status, response_status, category, next_attempt_at, charged), ids in groups.items():
        updated += Delivery.objects.filter(pk__in=ids, lease_token=token, status=Status.DELIVERING).update(
            status=status,
            # Every attempt gets its own number; only a charged one uses up the cycle's budget.
            attempt_count=F("attempt_count") + 1,
            cycle_attempt_count=F("cycle_attempt_count") + (1 if charged else 0),
            last_response_status=response_status,
            last_error_category=category,
            next_attempt_at=next_attempt_at,
            delivered_at=now if status == Status.DELIVERED else None,
            updated_at=now,
            **_NO_LEASE,
        )
    if updated != len(records):
        raise LeaseLost(f"{len(records) - updated} of {len(records)} deliveries are no longer held")
    dead = [record for record in records if record.decision.outcome == AttemptOutcome.DEAD_LETTERED]
    dead_letters_open(
        [
            GaveUp(
                delivery_id=record.claim.delivery_id,
                endpoint_id=record.claim.endpoint.pk,
                callback_id=record.claim.callback_id,
                error_category=record.decision.category,
                last_error=record.decision.error_message,
                last_response_status=record.response_status,
                attempts=record.claim.cycle_attempt,
                dead_at=record.started_at + timedelta(milliseconds=record.duration_ms),
            )
            for record in dead
        ]
    )
    # One scheduled wake-up per priority and second, however many retries fall in it.
    retries = {
        (record.claim.priority, next_whole_second(record.next_attempt_at))
        for record in records
        if record.next_attempt_at is not None
    }
    for priority, second in retries:
        wake_at_on_commit(priority, second)


# --- make waiting deliveries due -----------------------------------------------------------------


def make_due(deliveries: QuerySet[Delivery], *, statuses: Sequence[str] = WAITING_STATUSES) -> int:
    """Make waiting deliveries due now (held ones back to pending or retrying) and wake the workers.

    No attempt is charged. Returns how many. For "retry now", a resumed
    endpoint, a circuit that closed and the sweep. Call it inside or outside a
    transaction: the wake-up goes after commit.
    """
    now = timezone.now()
    rows = list(
        deliveries.filter(status__in=statuses)
        .order_by()
        .values_list("pk", "priority", "cycle_attempt_count", "status")
    )
    if not rows:
        return 0
    made_due, priorities = 0, set()
    by_status: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, priority, cycle_attempt_count, status in rows:
        by_status[(status, waiting_status(cycle_attempt_count))].append(pk)
        priorities.add(priority)
    with transaction.atomic():
        for (was, becomes), ids in by_status.items():
            made_due += Delivery.objects.filter(pk__in=ids, status=was).update(
                status=becomes, next_attempt_at=now, updated_at=now
            )
        wake_on_commit(priorities)
    return made_due


def reopen_dead(delivery_id: int) -> bool:
    """A dead delivery starts a new cycle (pending, the endpoint's max attempts again, same webhook-id).

    Call inside the transaction that resolves its dead letter; the workers
    are woken after commit when the endpoint is active.
    """
    delivery = Delivery.objects.filter(pk=delivery_id).values("priority", "endpoint__is_active").first()
    if delivery is None:
        return False
    reopened = Delivery.objects.filter(pk=delivery_id, status=Status.DEAD).update(
        status=Status.PENDING,
        cycle=F("cycle") + 1,
        cycle_attempt_count=0,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    if reopened and delivery["endpoint__is_active"]:
        wake_on_commit([delivery["priority"]])
    return bool(reopened)


def put_back(delivery: Delivery) -> str | None:
    """A "delivering" row whose worker died: waiting again (as it was), due now; no attempt charged.

    Conditional on the row being as it was read (same status and start), so
    it never undoes a claim made since. Returns the new status, or ``None``.
    """
    now = timezone.now()
    status = waiting_status(delivery.cycle_attempt_count)
    reset = Delivery.objects.filter(
        pk=delivery.pk, status=Status.DELIVERING, started_delivering_at=delivery.started_delivering_at
    ).update(status=status, next_attempt_at=now, updated_at=now, **_NO_LEASE)
    return status if reset else None
