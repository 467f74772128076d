"""The relay's counters and histograms: callbacks, duplicates, attempts, delivery and end-to-end latency.

All are cumulative counters folded from the rows (``daraja.metrics.folding``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Sum
from django.db.models.functions import Lower
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from redis import Redis

from daraja.metrics.folding import (
    EpochMilliseconds,
    Source,
    bucket_field,
    fold_new_rows,
    histogram_fold,
    read_totals,
)
from delivery.models import DeliveryAttempt
from webhooks.models import Callback
from webhooks.mpesa import CallbackKind

# Upper bounds (seconds). Changing them needs a new folding.KEY_PREFIX: old bucket totals would not add up.
ATTEMPT_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
END_TO_END_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)
NO_ERROR = "none"


def _settle() -> float:
    return settings.METRICS_SETTLE_SECONDS


def _duplicate_settle() -> float:
    # A callback gains duplicates only while it is inside the duplicate window (webhooks.duplicates).
    return settings.DUPLICATE_WINDOW_HOURS * 3600 + settings.METRICS_SETTLE_SECONDS


def _fold_callbacks(rows: QuerySet) -> dict[str, int]:
    return {f"kind|{row['kind']}": row["n"] for row in rows.values("kind").annotate(n=Count("pk"))}


def _fold_final_duplicates(rows: QuerySet) -> dict[str, int]:
    return {"duplicates": rows.aggregate(n=Sum("duplicate_count"))["n"] or 0}


def _fold_attempts(rows: QuerySet) -> dict[str, int]:
    totals = {
        f"attempt|{row['outcome']}|{row['error_category'] or NO_ERROR}": row["n"]
        for row in rows.values("outcome", "error_category").annotate(n=Count("pk"))
    }
    totals.update(
        histogram_fold(rows, name="duration", value_ms=F("duration_ms"), bounds=ATTEMPT_DURATION_BUCKETS)
    )
    # Outcome compared through Lower(): with the outcome index usable, PostgreSQL without table statistics
    # (a table just bulk-loaded) plans a nested loop over every delivered row, per row. The unique
    # (delivery, attempt_number) index answers this per row in microseconds.
    earlier_success = (
        DeliveryAttempt.objects.annotate(outcome_text=Lower("outcome"))
        .filter(delivery=OuterRef("delivery"), attempt_number__lt=OuterRef("attempt_number"))
        .filter(outcome_text=DeliveryAttempt.Outcome.DELIVERED.value)
    )
    first_successes = rows.filter(outcome=DeliveryAttempt.Outcome.DELIVERED).exclude(Exists(earlier_success))
    # Received by the relay → the receiver's answer arrived: started_at + duration - received_at.
    end_to_end_ms = (
        EpochMilliseconds("started_at")
        + F("duration_ms")
        - EpochMilliseconds("delivery__callback__received_at")
    )
    totals.update(
        histogram_fold(first_successes, name="end_to_end", value_ms=end_to_end_ms, bounds=END_TO_END_BUCKETS)
    )
    return totals


CALLBACKS = Source("callbacks", Callback, "received_at", _fold_callbacks, _settle)
# Callbacks past the duplicate window: their duplicate counts can no longer change.
FINAL_DUPLICATES = Source(
    "final_duplicates", Callback, "received_at", _fold_final_duplicates, _duplicate_settle
)
ATTEMPTS = Source("attempts", DeliveryAttempt, "created_at", _fold_attempts, _settle)
SOURCES = (CALLBACKS, FINAL_DUPLICATES, ATTEMPTS)


def fold_all(redis: Redis, *, now: datetime) -> None:
    """Bring every counter up to date with the settled rows (see ``daraja.metrics.folding``)."""
    for source in SOURCES:
        fold_new_rows(source, redis, now=now)


def counter_families(redis: Redis) -> Iterator:
    """The counters and histograms, from the running totals (plus live duplicate counts)."""
    _, callbacks = read_totals(CALLBACKS, redis)
    received = CounterMetricFamily(
        "daraja_callbacks_received",
        "Callbacks stored and acknowledged to M-Pesa (HTTP 200), by kind. Refused requests are not counted.",
        labels=["kind"],
    )
    kinds = {kind.value for kind in CallbackKind} | {key.split("|", 1)[1] for key in callbacks}
    for kind in sorted(kinds):
        received.add_metric([kind], callbacks.get(f"kind|{kind}", 0))
    yield received

    final_cursor, final = read_totals(FINAL_DUPLICATES, redis)
    # Callbacks still inside the window may gain duplicates: summed live (a primary-key range scan).
    recent = Callback.objects.filter(pk__gt=final_cursor).aggregate(n=Sum("duplicate_count"))["n"] or 0
    duplicates = CounterMetricFamily(
        "daraja_callback_duplicates",
        "Repeats of a callback already received, acknowledged and absorbed (not delivered again).",
    )
    duplicates.add_metric([], final.get("duplicates", 0) + recent)
    yield duplicates

    _, attempts = read_totals(ATTEMPTS, redis)
    by_outcome = CounterMetricFamily(
        "daraja_delivery_attempts",
        "Delivery attempts (HTTP POSTs to users' apps), by outcome and error category ('none' on success).",
        labels=["outcome", "error_category"],
    )
    pairs = {tuple(key.split("|")[1:]) for key in attempts if key.startswith("attempt|")}
    pairs.add((DeliveryAttempt.Outcome.DELIVERED.value, NO_ERROR))
    for outcome, category in sorted(pairs):
        by_outcome.add_metric([outcome, category], attempts.get(f"attempt|{outcome}|{category}", 0))
    yield by_outcome

    yield _histogram(
        "daraja_delivery_attempt_duration_seconds",
        "How long each delivery attempt took, from sending the request to the receiver's full answer.",
        attempts,
        "duration",
        ATTEMPT_DURATION_BUCKETS,
    )
    yield _histogram(
        "daraja_delivery_end_to_end_seconds",
        "From the callback's arrival at the relay to its first successful delivery (retries included).",
        attempts,
        "end_to_end",
        END_TO_END_BUCKETS,
    )


def _histogram(
    name: str, documentation: str, totals: dict[str, int], field: str, bounds
) -> HistogramMetricFamily:
    buckets = [(f"{bound:g}", totals.get(bucket_field(field, bound), 0)) for bound in bounds]
    buckets.append(("+Inf", totals.get(f"{field}|count", 0)))
    return HistogramMetricFamily(
        name, documentation, buckets=buckets, sum_value=totals.get(f"{field}|sum_ms", 0) / 1000
    )
