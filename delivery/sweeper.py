"""The sweeper: no delivery waits forever for a job Redis lost.

The database is the truth of every delivery; Redis only holds "what to do
next", and that can vanish (a flush, a restart without persistence, a worker
killed between taking a job and claiming its delivery, an enqueue while Redis
was down). Once per ``SWEEP_INTERVAL_SECONDS`` one worker queues the sweep
job (``sweep_enqueue_if_due``, called from ``delivery.worker``), which:

1. puts back deliveries stuck ``delivering`` for longer than their
   endpoint's timeout plus ``SWEEP_STUCK_MARGIN_SECONDS`` (their worker died
   mid-attempt): pending or retrying again, due now, no attempt charged;
2. re-queues deliveries of active endpoints that are due (pending, retrying,
   or held although their circuit is closed) but have no live job;
3. schedules again the circuit probe of an open circuit whose probe is overdue.

"No live job" is decided without listing Redis: a delivery counts as jobless
only when it has been due for ``SWEEP_GRACE_SECONDS`` *and* is older than the
oldest job still waiting in its priority's queue (and, if it was scheduled,
than the oldest overdue job in that queue's scheduled registry). A job that
is merely stuck behind a backlog, or behind a scheduler that is taking over
from a dead one, is therefore never doubled: a backlog is not flooded. Should
a duplicate job happen anyway, it is harmless: the claim in
``delivery.attempts`` is a conditional UPDATE, so only one job sends.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import LockError, RedisError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from delivery.models import Delivery
from delivery.queues import FAILED_JOB_TTL, delivery_queue, enqueue_delivery, enqueue_probe, redis_connection
from webhooks.models import CircuitState, Endpoint
from webhooks.priorities import Priority

logger = logging.getLogger(__name__)

SWEEP_JOB = "delivery.sweeper.sweep_job"
SWEEP_PRIORITY = Priority.URGENT  # a sweep takes milliseconds; it should not wait behind a backlog
GATE_KEY = "daraja:sweeper:next"
LOCK_KEY = "daraja:sweeper:lock"
TOTALS_KEY = "daraja:sweeper:totals"
SWEEP_JOB_TIMEOUT = 300
# A job still in a queue is looked for among the first few ids (a deleted job's id may linger there).
_HEAD_PEEK = 10


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
        horizons = _job_horizons(now)
        unstuck = _put_back_stuck(now)
        requeued = _requeue_jobless(now, horizons)
        probes = _reschedule_lost_probes(now, horizons[Priority.HIGH])
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


@dataclass(frozen=True)
class _Horizon:
    """Before these moments a delivery's job cannot still be waiting in Redis (see the module docstring)."""

    queued: datetime  # the oldest job waiting in the queue was enqueued then (now when the queue is empty)
    scheduled: datetime  # the oldest job the scheduler should already have moved was due then


def _job_horizons(now: datetime) -> dict[int, _Horizon]:
    connection = redis_connection()
    horizons = {}
    for priority in Priority:
        queue = delivery_queue(priority)
        queued = now
        head_ids = queue.get_job_ids(0, _HEAD_PEEK - 1)
        for job in Job.fetch_many(head_ids, connection=connection):
            if job is not None and job.enqueued_at is not None:
                queued = min(now, job.enqueued_at)
                break
        scheduled = now
        registry = ScheduledJobRegistry(queue=queue)
        oldest = connection.zrange(registry.key, 0, 0, withscores=True)
        if oldest:
            scheduled = min(now, datetime.fromtimestamp(oldest[0][1], tz=UTC))
        horizons[priority] = _Horizon(queued=queued, scheduled=min(queued, scheduled))
    return horizons


def _put_back_stuck(now: datetime) -> int:
    """Deliveries whose worker died mid-attempt: pending/retrying again, due now, queued; no attempt charged.

    Whether the receiver got the lost attempt cannot be known: the next
    attempt carries the same webhook-id (docs/reliability.md).
    """
    margin = timedelta(seconds=settings.SWEEP_STUCK_MARGIN_SECONDS)
    candidates = Delivery.objects.filter(status=Delivery.Status.DELIVERING).filter(
        Q(started_delivering_at__lt=now - margin)
        | Q(started_delivering_at__isnull=True, updated_at__lt=now - margin)
    )
    put_back = 0
    for delivery in candidates.select_related("endpoint").order_by("pk")[: settings.SWEEP_BATCH_SIZE]:
        endpoint = delivery.endpoint
        started = delivery.started_delivering_at or delivery.updated_at
        allowed = max(endpoint.timeout_seconds, settings.C2B_VALIDATION_BUDGET_SECONDS)
        if started >= now - margin - timedelta(seconds=allowed):
            continue
        status = Delivery.Status.RETRYING if delivery.cycle_attempt_count else Delivery.Status.PENDING
        reset = Delivery.objects.filter(
            pk=delivery.pk,
            status=Delivery.Status.DELIVERING,
            started_delivering_at=delivery.started_delivering_at,
        ).update(status=status, started_delivering_at=None, next_attempt_at=now, updated_at=now)
        if not reset:
            continue
        put_back += 1
        logger.warning(
            "🧹 Delivery %s was delivering since %s (its worker died): back to %s",
            delivery.pk,
            started.isoformat(),
            status,
        )
        # A paused endpoint's delivery waits for the resume, which queues it; Redis down: the next sweep.
        if endpoint.is_active and not _enqueue(delivery, endpoint):
            break
    return put_back


def _requeue_jobless(now: datetime, horizons: dict[int, _Horizon]) -> int:
    grace = timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    waiting = Q(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING]) | Q(
        status=Delivery.Status.HELD, endpoint__circuit_state=CircuitState.CLOSED
    )
    requeued = 0
    for priority, horizon in horizons.items():
        due = (
            Delivery.objects.filter(waiting, endpoint__is_active=True, priority=priority)
            .filter(updated_at__lt=horizon.queued - grace)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=horizon.scheduled - grace))
            .select_related("endpoint")
            .order_by("created_at")[: settings.SWEEP_BATCH_SIZE - requeued]
        )
        for delivery in due:
            # Mark it re-queued now (only if nobody touched it since it was read), then queue it.
            touched = Delivery.objects.filter(
                pk=delivery.pk, status=delivery.status, updated_at=delivery.updated_at
            ).update(next_attempt_at=now, updated_at=now)
            if not touched:
                continue
            if not _enqueue(delivery, delivery.endpoint):
                return requeued
            requeued += 1
            logger.info("🧹 Delivery %s (%s) had no job: queued again", delivery.pk, delivery.status)
        if requeued >= settings.SWEEP_BATCH_SIZE:
            break
    return requeued


def _reschedule_lost_probes(now: datetime, high: _Horizon) -> int:
    """An open circuit whose probe is overdue, with deliveries held behind it, gets a probe job again.

    Probes run on the high queue. A duplicate probe is harmless: the probe
    slot is claimed in the endpoint's row (``delivery.circuit``).
    """
    overdue_before = high.scheduled - timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    endpoints = Endpoint.objects.filter(
        is_active=True,
        circuit_state=CircuitState.OPEN,
        circuit_next_probe_at__lt=overdue_before,
        deliveries__status=Delivery.Status.HELD,
    ).distinct()
    probes = 0
    for endpoint_id in endpoints.values_list("pk", flat=True):
        if not enqueue_probe(endpoint_id=endpoint_id, at=now):
            break
        probes += 1
        logger.info("🧹 Circuit probe of endpoint %s was lost: scheduled again", endpoint_id)
    return probes


def _enqueue(delivery: Delivery, endpoint: Endpoint) -> bool:
    return enqueue_delivery(
        delivery_id=delivery.pk, priority=delivery.priority, timeout_seconds=endpoint.timeout_seconds
    )
