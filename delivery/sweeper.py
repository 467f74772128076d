"""The sweeper: no delivery waits forever for a job Redis lost.

The database is the truth of every delivery; Redis only holds "what to do
next", and that can vanish (a flush, a restart without persistence, a worker
killed between taking a job and claiming its delivery, an enqueue while Redis
was down). Once per ``SWEEP_INTERVAL_SECONDS`` one worker queues the sweep
job (``sweep_enqueue_if_due``, called from ``delivery.worker``), which:

1. puts back deliveries stuck ``delivering`` for longer than their
   endpoint's timeout plus ``SWEEP_STUCK_MARGIN_SECONDS`` whose lease ran
   out (their worker died mid-attempt): pending or retrying again, due now,
   no attempt charged (the claim takes back an active endpoint's expired
   leases by itself; this catches the rest);
2. wakes the workers for due deliveries of active endpoints that waited
   ``SWEEP_GRACE_SECONDS`` without being claimed (their wake-up was lost),
   and makes held deliveries whose circuit is closed due again;
3. schedules again the circuit probe of an open circuit whose probe is overdue.

Waking is idempotent: a drain claims rows with a conditional UPDATE, so a
wake-up too many costs one short job and never a second attempt; and the
wake key (``delivery.wakeup``) keeps a waiting drain from being doubled.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from delivery import lifecycle
from delivery.models import Circuit, CircuitState, Delivery
from delivery.priority import Priority
from delivery.queues import FAILED_JOB_TTL, delivery_queue, enqueue_probe, redis_connection
from delivery.wakeup import Woken, wake_now

logger = logging.getLogger(__name__)

SWEEP_JOB = "delivery.sweeper.sweep_job"
SWEEP_PRIORITY = Priority.URGENT  # a sweep takes milliseconds; it should not wait behind a backlog
GATE_KEY = "daraja:sweeper:next"
LOCK_KEY = "daraja:sweeper:lock"
TOTALS_KEY = "daraja:sweeper:totals"
SWEEP_JOB_TIMEOUT = 300


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did. ``skipped``: another sweep held the lock, this one did nothing."""

    unstuck: int = 0
    requeued: int = 0
    probes: int = 0
    skipped: bool = False


def sweep_enqueue_if_due() -> bool:
    """Queue the sweep job unless any worker queued one less than ``SWEEP_INTERVAL_SECONDS`` ago.

    The gate is a Redis key set with NX and an expiry of one interval, so
    however many workers call this, one sweep is queued per interval. Returns
    whether this call queued it. Raises ``RedisError`` when Redis is down.
    """
    connection = redis_connection()
    interval_ms = max(1, int(settings.SWEEP_INTERVAL_SECONDS * 1000))
    if not connection.set(GATE_KEY, timezone.now().isoformat(), nx=True, px=interval_ms):
        return False
    delivery_queue(SWEEP_PRIORITY).enqueue_call(
        SWEEP_JOB,
        timeout=SWEEP_JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=FAILED_JOB_TTL,
        description="sweep_deliveries()",
    )
    return True


def sweep_job() -> dict:
    """RQ entry point of the periodic sweep."""
    return asdict(deliveries_sweep())


def deliveries_sweep() -> SweepResult:
    """Put back stuck deliveries, re-queue jobless due ones, re-schedule lost probes; log and count.

    Runs under a Redis lock, so sweeps started by several workers at once do
    the work once; the others return ``skipped``. The lock expires after one
    interval (at least 5 s), so a worker killed mid-sweep delays the next
    sweep by no more than that; a sweep outliving it is harmless, since every
    write is conditional on the row being as it was read.
    """
    connection = redis_connection()
    lock_seconds = max(5, settings.SWEEP_INTERVAL_SECONDS)
    lock = connection.lock(LOCK_KEY, timeout=lock_seconds, blocking=False)
    if not lock.acquire():
        logger.info("🧹 Sweep skipped: another sweep is running")
        return SweepResult(skipped=True)
    try:
        now = timezone.now()
        unstuck = _put_back_stuck(now)
        requeued = _wake_forgotten(now)
        probes = _reschedule_lost_probes(now)
    finally:
        with suppress(LockError, RedisError):
            lock.release()
    result = SweepResult(unstuck=unstuck, requeued=requeued, probes=probes)
    _count(result)
    if unstuck or requeued or probes:
        logger.warning(
            "🧹 Sweep rescued %d stuck deliveries, %d due deliveries without a job, %d circuit probes",
            unstuck,
            requeued,
            probes,
        )
    else:
        logger.debug("🧹 Sweep: nothing lost")
    return result


def sweeper_totals() -> dict[str, int]:
    """Totals since Redis was last emptied: ``sweeps``, ``unstuck``, ``requeued``, ``probes``."""
    raw = redis_connection().hgetall(TOTALS_KEY)
    return {key.decode(): int(value) for key, value in raw.items()}


def _count(result: SweepResult) -> None:
    with suppress(RedisError):  # the counters are informative; the log line above is the record
        pipeline = redis_connection().pipeline()
        pipeline.hincrby(TOTALS_KEY, "sweeps", 1)
        for field in ("unstuck", "requeued", "probes"):
            pipeline.hincrby(TOTALS_KEY, field, getattr(result, field))
        pipeline.execute()


def _put_back_stuck(now: datetime) -> int:
    """Deliveries whose worker died mid-attempt and whose lease ran out (or that have none): waiting again.

    The claim takes back an active endpoint's expired leases by itself; this
    catches the rest (a paused endpoint's) after the endpoint's timeout plus
    ``SWEEP_STUCK_MARGIN_SECONDS``.
    No attempt is charged. Whether the receiver got the lost attempt cannot
    be known: the next attempt carries the same webhook-id (docs/reliability.md).
    """
    margin = timedelta(seconds=settings.SWEEP_STUCK_MARGIN_SECONDS)
    candidates = (
        Delivery.objects.filter(status=Delivery.Status.DELIVERING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .filter(
            Q(started_delivering_at__lt=now - margin)
            | Q(started_delivering_at__isnull=True, updated_at__lt=now - margin)
        )
        .select_related("endpoint")
        .order_by("pk")[: settings.SWEEP_BATCH_SIZE]
    )
    put_back, priorities = 0, set()
    for delivery in candidates:
        endpoint = delivery.endpoint
        started = delivery.started_delivering_at or delivery.updated_at
        if started >= now - margin - timedelta(seconds=endpoint.timeout_seconds):
            continue
        status = lifecycle.put_back(delivery)
        if status is None:
            continue
        put_back += 1
        logger.warning(
            "🧹 Delivery %s was delivering since %s (its worker died): back to %s",
            delivery.pk,
            started.isoformat(),
            status,
        )
        # A paused endpoint's delivery waits for the resume, which wakes the workers.
        if endpoint.is_active:
            priorities.add(delivery.priority)
    for priority in sorted(priorities, reverse=True):
        wake_now(priority)
    return put_back


def _wake_forgotten(now: datetime) -> int:
    """Wake the workers for deliveries that waited too long for one; returns how many deliveries.

    Held deliveries whose circuit is closed wait for nothing: they become due.
    Due deliveries of active endpoints untouched for ``SWEEP_GRACE_SECONDS``
    wake their priority (their wake-up was lost with Redis, or came while it
    was down). A wake-up never doubles an attempt (the claim is conditional),
    so waking a priority whose drain is merely busy costs one short job.
    """
    grace = now - timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    released = lifecycle.make_due(
        Delivery.objects.filter(
            status=Delivery.Status.HELD,
            endpoint__circuit__state=CircuitState.CLOSED,
            endpoint__is_active=True,
            updated_at__lt=grace,
        ),
        statuses=[Delivery.Status.HELD],
    )
    stale = (
        Delivery.objects.filter(status__in=lifecycle.CLAIMABLE_STATUSES, endpoint__is_active=True)
        .filter(updated_at__lt=grace)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace))
        .order_by()
        .values("priority")
        .annotate(n=Count("id"))
    )
    woken = 0
    for row in stale:
        result = wake_now(row["priority"])
        if not result:
            break
        if result is not Woken.QUEUED:
            continue  # a drain for this priority is waiting in its queue already: nothing was lost
        woken += row["n"]
        logger.info(
            "🧹 %d %s deliveries waited past the grace period: workers woken",
            row["n"],
            Priority(row["priority"]).queue_name,
        )
    return released + woken


def _reschedule_lost_probes(now: datetime) -> int:
    """An open circuit whose probe is overdue, with deliveries held behind it, gets a probe job again.

    Probes run on the high queue. A duplicate probe is harmless: the probe
    slot is claimed in the circuit's row (``delivery.circuit``).
    """
    overdue_before = now - timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    circuits = Circuit.objects.filter(
        endpoint__is_active=True,
        state=CircuitState.OPEN,
        next_probe_at__lt=overdue_before,
        endpoint__deliveries__status=Delivery.Status.HELD,
    ).distinct()
    probes = 0
    for endpoint_id in circuits.values_list("pk", flat=True):
        if not enqueue_probe(endpoint_id=endpoint_id, at=now):
            break
        probes += 1
        logger.info("🧹 Circuit probe of endpoint %s was lost: scheduled again", endpoint_id)
    return probes
