"""The queue's numbers, read once for both ``/health/queue`` and ``/api/v1/queue/``."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.utils import timezone
from redis.exceptions import RedisError

from deadletter.selectors import open_dead_letters
from delivery.selectors import (
    delivery_priority_counts,
    delivery_status_counts,
    endpoint_circuit_overview,
    redis_queue_counts,
)

logger = logging.getLogger(__name__)

QUEUE_NAME = "webhook-delivery"


def queue_report(*, with_endpoints: bool) -> tuple[dict, list[str]]:
    """The queue's numbers, and what could not be read.

    Every number of deliveries comes from the database, which is the queue:
    ``waiting`` is deliveries due now, ``active`` those being sent,
    ``scheduled_retries`` those waiting for their retry time, ``completed``
    delivered deliveries and ``open_dead_letters`` the dead letters waiting
    for a person. ``failed`` and ``dead_letters`` are the same count under
    the names monitoring already reads (deprecated: docs/operations.md).
    Redis adds the workers and, per priority, the RQ ``jobs`` (wake-ups)
    waiting. The problems name what is down, without the exception text
    (that goes to the log). ``endpoints`` (who needs attention) is read only
    ``with_endpoints``.
    """
    problems = []
    redis_numbers = None
    try:
        redis_numbers = redis_queue_counts()
    except RedisError as exc:
        logger.error("❌ Redis connection lost: %s", exc)
        problems.append("redis: unreachable")
    db_numbers = None
    try:
        db_numbers = {
            "priorities": delivery_priority_counts(now=timezone.now()),
            "deliveries": delivery_status_counts(),
            "dead_letters": open_dead_letters().count(),
        }
        if with_endpoints:
            db_numbers["endpoints"] = endpoint_circuit_overview()
    except DatabaseError as exc:
        logger.error("❌ Database unavailable: %s", exc)
        problems.append("database: unavailable")

    priorities = db_numbers["priorities"] if db_numbers else {}
    for name, jobs in (redis_numbers["priorities"] if redis_numbers else {}).items():
        priorities.setdefault(name, {})["jobs"] = jobs["waiting"]

    def total(name: str) -> int | None:
        return sum(numbers[name] for numbers in priorities.values()) if db_numbers else None

    open_letters = db_numbers["dead_letters"] if db_numbers else None
    report = {
        "status": "unhealthy" if problems else "healthy",
        "queue": {
            "name": QUEUE_NAME,
            "waiting": total("waiting"),
            "active": total("active"),
            "failed": open_letters,  # deprecated alias of open_dead_letters
            "completed": db_numbers["deliveries"]["delivered"] if db_numbers else None,
            "scheduled_retries": total("scheduled"),
            "dead_letters": open_letters,  # deprecated alias of open_dead_letters
            "open_dead_letters": open_letters,
            "priorities": priorities,
            "deliveries": db_numbers["deliveries"] if db_numbers else {},
        },
        "workers": redis_numbers["workers"] if redis_numbers else None,
        "redis": {"connected": redis_numbers is not None},
        "database": {"connected": db_numbers is not None},
    }
    if with_endpoints:
        report["endpoints"] = db_numbers["endpoints"] if db_numbers else None
    if problems:
        report["errors"] = problems
    return report, problems
