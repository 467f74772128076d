"""Gauges read live at scrape time: queues and workers (Redis), deliveries, dead letters, endpoints (DB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Min
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily

from deadletter.selectors import open_dead_letters
from delivery.models import Delivery
from delivery.selectors import delivery_priority_counts, delivery_status_counts, redis_queue_counts
from webhooks.models import Endpoint, Merchant


def queue_families() -> Iterator[GaugeMetricFamily]:
    """Per-priority RQ numbers and the live workers. Raises ``RedisError`` when Redis is down."""
    numbers = redis_queue_counts()
    per_queue = {
        "daraja_queue_wakeups_waiting": ("waiting", "Drain jobs (wake-ups) waiting in the RQ queue."),
        "daraja_queue_failed_jobs": (
            "failed_jobs",
            "Jobs in RQ's failed registry (a crashed job, not a failed delivery).",
        ),
    }
    for name, (field, documentation) in per_queue.items():
        family = GaugeMetricFamily(name, documentation, labels=["queue"])
        for queue, counts in numbers["priorities"].items():
            family.add_metric([queue], counts[field])
        yield family
    yield GaugeMetricFamily(
        "daraja_workers", "RQ workers registered and alive (all hosts).", value=numbers["workers"]
    )


def _priority_families(*, now: datetime) -> Iterator[GaugeMetricFamily]:
    """Per priority, from the database (the queue itself): due, being sent, scheduled for later."""
    numbers = delivery_priority_counts(now=now)
    per_queue = {
        "daraja_queue_depth": ("waiting", "Deliveries due now and not yet being sent, per priority."),
        "daraja_queue_active_jobs": ("active", "Deliveries being sent now, per priority."),
        "daraja_queue_scheduled_retries": ("scheduled", "Retries (and deferrals) not yet due, per priority."),
    }
    for name, (field, documentation) in per_queue.items():
        family = GaugeMetricFamily(name, documentation, labels=["queue"])
        for queue, counts in numbers.items():
            family.add_metric([queue], counts[field])
        yield family


def database_families(*, now: datetime) -> Iterator[GaugeMetricFamily]:
    """Deliveries per priority and by state, the oldest due one, open dead letters, endpoints.

    Raises ``DatabaseError``.
    """
    yield from _priority_families(now=now)
    deliveries = GaugeMetricFamily("daraja_deliveries", "Deliveries by current state.", labels=["status"])
    for status, count in delivery_status_counts().items():
        deliveries.add_metric([status], count)
    yield deliveries

    due_since = (
        Delivery.objects.filter(status__in=[Delivery.Status.PENDING, Delivery.Status.RETRYING])
        .annotate(due=Coalesce("next_attempt_at", "created_at"))
        .filter(due__lte=now)
        .aggregate(oldest=Min("due"))["oldest"]
    )
    yield GaugeMetricFamily(
        "daraja_oldest_due_delivery_seconds",
        "How long the longest-waiting due delivery (pending, or retrying past its time) has waited; 0: none.",
        value=(now - due_since).total_seconds() if due_since else 0,
    )

    dead_letters = GaugeMetricFamily(
        "daraja_dead_letters_open",
        "Dead letters waiting for a person (neither retried nor purged), by error category.",
        labels=["error_category"],
    )
    for row in open_dead_letters().order_by().values("error_category").annotate(n=Count("pk")):
        dead_letters.add_metric([row["error_category"]], row["n"])
    yield dead_letters

    endpoints = GaugeMetricFamily(
        "daraja_endpoints",
        "Destinations (a merchant's apps) by state (active/paused) and circuit breaker state (closed/open).",
        labels=["state", "circuit_state"],
    )
    for row in Endpoint.objects.order_by().values("is_active", "circuit__state").annotate(n=Count("pk")):
        endpoints.add_metric(["active" if row["is_active"] else "paused", row["circuit__state"]], row["n"])
    yield endpoints

    merchants = GaugeMetricFamily("daraja_merchants", "Merchants (inbound doors).")
    merchants.add_metric([], Merchant.objects.count())
    yield merchants
