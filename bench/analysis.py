"""Turning load results and the receiver's records into figures; the harness's database checks."""

from __future__ import annotations

import time
from collections import Counter, defaultdict

from bench.load import LoadResult
from bench.measure import percentiles


def ack_figures(load: LoadResult) -> dict:
    """acks/s, ack latency percentiles (ms) and every answer by status."""
    return {
        "requested": load.requested,
        "acked": load.acked,
        "seconds": round(load.seconds, 2),
        "acks_per_second": round(load.acked / load.seconds, 1),
        "ack_latency_ms": percentiles(load.latencies),
        "statuses": {str(status): n for status, n in sorted(load.statuses.items(), key=str)},
        "errors": sum(
            n for status, n in load.statuses.items() if not (isinstance(status, int) and status < 300)
        ),
    }


def delivery_figures(
    records: list[list], load: LoadResult, targets: set[int] | None = None, origin: float | None = None
) -> dict:
    """Deliveries/s, end-to-end latency (ack'd send -> first arrival), duplicates and lost.

    ``targets`` limits the figures to callbacks sent to those target indexes
    (the fairness scenario's healthy endpoints). ``origin`` (a monotonic
    time) is when delivering could start, for a backlog queued with no
    worker running: rate and latency are then counted from it. A duplicate
    is a second arrival of a webhook-id, or a second webhook-id for one callback.
    """
    wanted = {
        correlation_id
        for correlation_id, target in load.target_of.items()
        if targets is None or target in targets
    }
    first_arrival: dict[str, float] = {}
    arrivals_per_webhook: Counter = Counter()
    webhooks_per_callback: dict[str, set[str]] = defaultdict(set)
    for at, _path, webhook_id, correlation_id, _attempt in records:
        if correlation_id not in wanted:
            continue
        arrivals_per_webhook[webhook_id] += 1
        webhooks_per_callback[correlation_id].add(webhook_id)
        first_arrival.setdefault(correlation_id, at)
    arrived = [c for c in wanted if c in first_arrival]
    duplicates = sum(n - 1 for n in arrivals_per_webhook.values()) + sum(
        len(ids) - 1 for ids in webhooks_per_callback.values()
    )
    start = load.started if origin is None else origin
    span = (max(first_arrival[c] for c in arrived) - start) if arrived else 0.0
    return {
        "expected": len(wanted),
        "delivered": len(arrived),
        "lost": len(wanted) - len(arrived),
        "duplicates": duplicates,
        "seconds": round(span, 2),
        "deliveries_per_second": round(len(arrived) / span, 1) if span else 0.0,
        "e2e_latency_ms": percentiles([first_arrival[c] - max(load.sent_at[c], start) for c in arrived]),
    }


def backlog_figures(records: list[list]) -> dict:
    """Deliveries/s of a queue drained from a backlog: arrivals over first-to-last arrival."""
    if len(records) < 2:
        return {"delivered": len(records), "deliveries_per_second": 0.0, "seconds": 0.0}
    webhook_ids = Counter(r[2] for r in records)
    span = records[-1][0] - records[0][0]
    return {
        "delivered": len(webhook_ids),
        "duplicates": sum(n - 1 for n in webhook_ids.values()),
        "seconds": round(span, 2),
        "deliveries_per_second": round((len(records) - 1) / span, 1) if span else 0.0,
    }


def wait_until(condition, *, timeout: float, interval: float = 0.5) -> bool:
    """Poll ``condition()`` until true or ``timeout`` seconds pass; returns whether it came true."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def endpoint_state(user_id: str) -> dict:
    """What the database says about one endpoint: callbacks, deliveries by status, attempts, circuit."""
    from django.db import connections
    from django.db.models import Count

    from delivery.models import Delivery, DeliveryAttempt
    from webhooks.models import Callback, Endpoint

    try:
        endpoint = Endpoint.objects.filter(user_id=user_id).order_by("pk").first()
        statuses = dict(
            Delivery.objects.filter(endpoint=endpoint)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        return {
            "callbacks": Callback.objects.filter(merchant_id=endpoint.merchant_id).count(),
            "deliveries": statuses,
            "attempts": DeliveryAttempt.objects.filter(delivery__endpoint=endpoint).count(),
            "circuit": endpoint.circuit.state,
        }
    finally:
        connections.close_all()  # never hold a read open on SQLite while the relay writes
