"""Redis connection and the four priority queues (urgent, high, normal, low) that carry wake-ups and probes.

One Redis client (with its connection pool) per process, made on first use
(``daraja.core.runtime``): building a client per request costs more than the
enqueue itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import django_rq
from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from daraja.core.runtime import PerProcess
from delivery.priority import Priority

logger = logging.getLogger(__name__)

# Failed RQ jobs are kept for debugging; the database keeps the real record.
FAILED_JOB_TTL = 7 * 24 * 3600
# redis-py pings a connection idle this long before using it, so a connection Redis dropped is replaced.
HEALTH_CHECK_INTERVAL_SECONDS = 30


def _redis_client_build() -> Redis:
    """The client django-rq makes from ``RQ_QUEUES`` (the one configuration), with our timeouts.

    django-rq leaves timeouts unset; RQ's workers set their own on their own
    client (longer than their blocking wait for a job). This client's commands
    are short, so a Redis that stops answering is treated as down after
    ``REDIS_SOCKET_TIMEOUT`` seconds. The timeouts go into the pool before it
    opens its first connection, the way RQ sets a worker's.
    """
    client = django_rq.get_connection(settings.DELIVERY_QUEUE_NAMES[0])
    client.connection_pool.connection_kwargs.update(
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
    )
    return client


_redis_client: PerProcess[Redis] = PerProcess(
    "Redis client",
    _redis_client_build,
    rebuilt_when=("REDIS_URL", "REDIS_SOCKET_TIMEOUT", "RQ_QUEUES"),
    close=Redis.close,
)


def redis_connection() -> Redis:
    """This process's Redis client (made once, shared by threads; see ``daraja.core.rq_settings``)."""
    return _redis_client.get()


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
