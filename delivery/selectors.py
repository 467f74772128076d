"""Reads on deliveries and on the queues: the numbers health checks and dashboards show."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from rq import Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from delivery.lifecycle import WAITING_STATUSES
from delivery.models import Circuit, CircuitState, Delivery
from delivery.priority import Priority
from delivery.queues import delivery_queues, redis_connection


def redis_queue_counts() -> dict:
    """Per-priority RQ job counts (waiting wake-ups, running drains, scheduled retry wake-ups, failed
    jobs) and the workers alive, from Redis.

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


def delivery_priority_counts(*, now) -> dict[str, dict[str, int]]:
    """Per priority, from the database (the queue itself): deliveries ``waiting`` (due now),
    ``scheduled`` (a retry or deferral not yet due), ``active`` (being sent) and ``held``."""
    per_priority = {name: {"waiting": 0, "active": 0, "scheduled": 0, "held": 0} for name in queue_names()}
    rows = (
        Delivery.objects.filter(status__in=[*WAITING_STATUSES, Delivery.Status.DELIVERING])
        .order_by()
        .values("priority", "status")
        .annotate(n=Count("id"), later=Count("id", filter=Q(next_attempt_at__gt=now)))
    )
    for row in rows:
        counts = per_priority[Priority(row["priority"]).queue_name]
        if row["status"] == Delivery.Status.DELIVERING:
            counts["active"] += row["n"]
        elif row["status"] == Delivery.Status.HELD:
            counts["held"] += row["n"]
        else:
            counts["scheduled"] += row["later"]
            counts["waiting"] += row["n"] - row["later"]
    return per_priority


def delivery_status_counts() -> dict[str, int]:
    """How many deliveries are in each state, from the database (the truth)."""
    counts = dict.fromkeys(Delivery.Status.values, 0)
    for row in Delivery.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def queue_names() -> tuple[str, ...]:
    return tuple(settings.DELIVERY_QUEUE_NAMES)


def endpoints_with_held_counts(endpoints: QuerySet) -> QuerySet:
    """``endpoints`` (destinations) annotated with ``held_deliveries``: deliveries waiting for a pause or
    an open circuit; each with its circuit, in the same query."""
    return endpoints.select_related("circuit").annotate(
        # distinct: callers may join another relation (dead letters) into the same query
        held_deliveries=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.HELD), distinct=True)
    )


def endpoint_circuit_overview() -> dict:
    """Destinations by circuit state, and every destination that needs attention (paused, circuit open
    or holding deliveries) with its held and in-flight counts."""
    by_state = dict.fromkeys(CircuitState.values, 0)
    for row in Circuit.objects.order_by().values("state").annotate(n=Count("pk")):
        by_state[row["state"]] = row["n"]
    attention = (
        Circuit.objects.select_related("endpoint")
        .annotate(
            held=Count("endpoint__deliveries", filter=Q(endpoint__deliveries__status=Delivery.Status.HELD))
        )
        .filter(Q(state=CircuitState.OPEN) | Q(endpoint__is_active=False) | Q(held__gt=0))
    )
    rows = []
    for circuit in attention.order_by("endpoint__user_id", "pk")[:100]:
        endpoint = circuit.endpoint
        flying = in_flight(endpoint.pk)
        rows.append(
            {
                "user_id": endpoint.user_id,
                "destination": endpoint.name,
                "active": endpoint.is_active,
                "paused_reason": endpoint.paused_reason,
                "circuit_state": circuit.state,
                "consecutive_failures": circuit.consecutive_failures,
                "held": circuit.held,
                "in_flight": flying,
            }
        )
    return {
        "by_circuit_state": by_state,
        "paused": Circuit.objects.filter(endpoint__is_active=False).count(),
        "needing_attention": rows,
    }


def in_flight(endpoint_id: int) -> int:
    """Deliveries of the endpoint being sent now: claimed under a lease that has not run out."""
    return Delivery.objects.filter(
        endpoint_id=endpoint_id, status=Delivery.Status.DELIVERING, lease_expires_at__gt=timezone.now()
    ).count()
