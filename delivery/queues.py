"""Redis connection and the four priority queues (urgent, high, normal, low) that carry wake-ups and probes.

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

from delivery.priority import Priority

logger = logging.getLogger(__name__)

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


def next_whole_second(moment: datetime) -> datetime:
    """RQ keeps schedule times in whole seconds, truncated: round up so nothing runs early."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def enqueue_probe(*, endpoint_id: int, at: datetime) -> bool:
    """Schedule a circuit probe for the endpoint at ``at`` on the high queue (see delivery.circuit)."""
    try:
        delivery_queue(Priority.HIGH).enqueue_at(
            next_whole_second(at),
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
