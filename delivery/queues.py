"""Redis connection and the four priority queues (urgent, high, normal, low).

One Redis client (with its connection pool) per process, made on first use:
building a client per request costs more than the enqueue itself.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from webhooks.priorities import Priority

logger = logging.getLogger(__name__)

JOB_FUNCTION = "delivery.jobs.deliver_webhook"
BATCH_JOB_FUNCTION = "delivery.jobs.deliver_batch"
# Seconds an RQ job may run beyond the endpoint's request timeout before RQ kills it.
JOB_TIMEOUT_MARGIN = 60
# Failed RQ jobs are kept for debugging; the database keeps the real record.
FAILED_JOB_TTL = 7 * 24 * 3600

_lock = threading.Lock()
_connection: tuple[str, Redis] | None = None


def redis_connection() -> Redis:
    """This process's Redis client for ``settings.REDIS_URL`` (made once, shared by threads)."""
    global _connection
    with _lock:
        if _connection is None or _connection[0] != settings.REDIS_URL:
            client = Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
                health_check_interval=30,
            )
            _connection = (settings.REDIS_URL, client)
        return _connection[1]


def delivery_queue(priority: int) -> Queue:
    """The RQ queue that carries deliveries of ``priority``."""
    return Queue(Priority(priority).queue_name, connection=redis_connection())


def delivery_queues() -> list[Queue]:
    """All priority queues, most urgent first (the order workers listen in)."""
    return [Queue(name, connection=redis_connection()) for name in settings.DELIVERY_QUEUE_NAMES]


def enqueue_delivery(
    *, delivery_id: int, priority: int, timeout_seconds: float, at: datetime | None = None
) -> bool:
    """Put a ``deliver_webhook`` job for the delivery on its priority queue, now or at ``at``.

    RQ's scheduler keeps times in whole seconds, truncated; ``at`` is rounded
    *up* to the next second so that a retry is never sent before its backoff
    has passed (it may be up to a second, plus the scheduler's poll interval, late).

    Returns ``False`` (and logs) when Redis cannot be reached: the delivery's
    row is already committed, so it waits in the database for the sweep
    instead of being lost.
    """
    queue = delivery_queue(priority)
    job_timeout = int(timeout_seconds) + JOB_TIMEOUT_MARGIN
    description = f"deliver_webhook(delivery={delivery_id})"
    try:
        if at is not None:
            queue.enqueue_at(
                _next_whole_second(at),
                JOB_FUNCTION,
                delivery_id,
                job_timeout=job_timeout,
                result_ttl=0,
                failure_ttl=FAILED_JOB_TTL,
                description=description,
            )
        else:
            queue.enqueue_call(
                JOB_FUNCTION,
                args=(delivery_id,),
                timeout=job_timeout,
                result_ttl=0,
                failure_ttl=FAILED_JOB_TTL,
                description=description,
            )
    except RedisError as exc:
        logger.error(
            "❌ Redis unavailable, delivery %s stays pending in the database until re-queued: %s",
            delivery_id,
            exc,
        )
        return False
    return True


def enqueue_delivery_batch(*, delivery_ids: list[int], priority: int, timeout_seconds: float) -> bool:
    """Put one job on the priority's queue that delivers all of ``delivery_ids`` (due now).

    The worker hands a batch's deliveries to its delivery threads
    (``delivery.jobs.deliver_batch``) and the job may wait for a free thread,
    at most about one attempt's timeout: hence its time limit. Even a single
    delivery goes as a batch, so it does not hold the worker while in flight.
    Returns ``False`` (and logs) when Redis cannot be reached; the rows wait
    for the sweep.
    """
    try:
        delivery_queue(priority).enqueue_call(
            BATCH_JOB_FUNCTION,
            args=(list(delivery_ids),),
            timeout=int(timeout_seconds) + JOB_TIMEOUT_MARGIN,
            result_ttl=0,
            failure_ttl=FAILED_JOB_TTL,
            description=f"deliver_batch(deliveries={','.join(map(str, delivery_ids))})",
        )
    except RedisError as exc:
        logger.error(
            "❌ Redis unavailable, deliveries %s stay pending in the database until re-queued: %s",
            ", ".join(map(str, delivery_ids)),
            exc,
        )
        return False
    return True


def _next_whole_second(moment: datetime) -> datetime:
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def enqueue_probe(*, endpoint_id: int, at: datetime) -> bool:
    """Schedule a circuit probe for the endpoint at ``at`` on the high queue (see delivery.circuit)."""
    try:
        delivery_queue(Priority.HIGH).enqueue_at(
            _next_whole_second(at),
            "delivery.jobs.probe_endpoint",
            endpoint_id,
            result_ttl=0,
            failure_ttl=FAILED_JOB_TTL,
            description=f"probe_endpoint(endpoint={endpoint_id})",
        )
    except RedisError as exc:
        logger.error("❌ Redis unavailable, probe of endpoint %s not scheduled: %s", endpoint_id, exc)
        return False
    return True
