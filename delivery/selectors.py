"""Reads on deliveries and on the queues: the numbers health checks and dashboards show."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from delivery.models import Delivery
from delivery.queues import delivery_queues, redis_connection


def redis_queue_counts() -> dict:
    """Per-priority waiting/active/scheduled/failed job counts and the workers alive, from Redis.

    Raises ``redis.exceptions.RedisError`` when Redis cannot be reached.
    """
    connection = redis_connection()
    connection.ping()
    per_priority = {}
    for queue in delivery_queues():
        per_priority[queue.name] = {
            "waiting": queue.count,
            "active": StartedJobRegistry(queue=queue).count,
            "scheduled": ScheduledJobRegistry(queue=queue).count,
            "failed_jobs": FailedJobRegistry(queue=queue).count,
        }
    return {"priorities": per_priority, "workers": Worker.count(connection=connection)}


def delivery_status_counts() -> dict[str, int]:
    """How many deliveries are in each state, from the database (the truth)."""
    counts = dict.fromkeys(Delivery.Status.values, 0)
    for row in Delivery.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def queue_names() -> tuple[str, ...]:
    return tuple(settings.DELIVERY_QUEUE_NAMES)
