"""Cumulative counters folded in from the database at scrape time, kept in Redis.

Why not count the whole table at every scrape: a ``COUNT``/histogram over
every attempt ever made grows with the table (seconds on tens of millions
of rows) and drops whenever ``manage.py prune`` deletes old rows, which
Prometheus would read as a counter reset. Why not count in the hot path:
the inbound and delivery code would pay a Redis write per event, and
per-process counters lie when gunicorn and the workers run many processes.

So each *source* (a table) has a cursor, the highest primary key already
counted, and a Redis hash of running totals. A scrape folds the rows past
the cursor into the totals — one aggregate query per family, over a
primary-key range, so the cost is the number of rows written since the last
scrape — and moves the cursor, atomically (``WATCH``/``MULTI``): of two
processes scraping at once, one folds and the other only reads. The totals
only grow; pruned rows were counted long before they are deleted. Redis
losing the keys (a flush) restarts every counter from the rows still in the
database, which Prometheus handles as an ordinary counter reset.

A row is folded only once it is ``METRICS_SETTLE_SECONDS`` old (by its own
timestamp) and has no younger row below it: primary keys are handed out
before commit, so a transaction still open could later commit a key below
one already counted. Counters therefore trail the database by that many
seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Max, Min, Q, Sum
from redis import Redis
from redis.exceptions import WatchError

# Bump when a source's fields change meaning (new histogram buckets, say): old totals are then ignored.
KEY_PREFIX = "daraja:metrics:v1"
FOLD_STATEMENT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Source:
    """A table whose new rows are folded into running totals.

    ``fold`` turns a queryset of new rows into ``{field: increment}``;
    ``time_field`` is the row's own timestamp; a row is final once it is
    ``settle_seconds()`` old.
    """

    name: str
    model: type[models.Model]
    time_field: str
    fold: Callable[[models.QuerySet], dict[str, int]]
    settle_seconds: Callable[[], float]

    @property
    def cursor_key(self) -> str:
        return f"{KEY_PREFIX}:{self.name}:cursor"

    @property
    def totals_key(self) -> str:
        return f"{KEY_PREFIX}:{self.name}:totals"


def fold_new_rows(source: Source, redis: Redis, *, now: datetime) -> int:
    """Fold the settled rows past the source's cursor into its totals; returns the rows' key span folded.

    Returns 0 when there was nothing settled to fold, or when another
    process moved the cursor meanwhile (it folded the same rows).
    """
    with redis.pipeline() as pipe:
        try:
            pipe.watch(source.cursor_key)
            cursor = int(pipe.get(source.cursor_key) or 0)
            upper = _settled_upper_key(source, cursor, now=now)
            if upper <= cursor:
                return 0
            with transaction.atomic(), _statement_timeout():
                increments = source.fold(source.model.objects.filter(pk__gt=cursor, pk__lte=upper))
            pipe.multi()
            for field, value in increments.items():
                if value:
                    pipe.hincrby(source.totals_key, field, int(value))
            pipe.set(source.cursor_key, upper)
            pipe.execute()
        except WatchError:
            return 0
    return upper - cursor


@contextmanager
def _statement_timeout() -> Iterator[None]:
    """On PostgreSQL, cancel a fold query that runs longer than ``FOLD_STATEMENT_TIMEOUT_MS``.

    A planner without table statistics (a table just bulk-loaded) can pick
    a nested-loop plan for the end-to-end histogram that takes minutes; a
    scrape must not hold a web process that long. The rows are then folded
    at a later scrape, once autovacuum has analysed the table.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {FOLD_STATEMENT_TIMEOUT_MS}")
    yield


def _settled_upper_key(source: Source, cursor: int, *, now: datetime) -> int:
    """The highest key that may be folded now: below the first unsettled row, within one batch."""
    rows = source.model.objects.order_by()
    next_key = rows.filter(pk__gt=cursor).aggregate(key=Min("pk"))["key"]
    if next_key is None:
        return cursor
    window = rows.filter(pk__gt=cursor, pk__lt=next_key + settings.METRICS_FOLD_BATCH)
    cutoff = now - timedelta(seconds=source.settle_seconds())
    first_unsettled = window.filter(**{f"{source.time_field}__gt": cutoff}).aggregate(key=Min("pk"))["key"]
    if first_unsettled is not None:
        window = window.filter(pk__lt=first_unsettled)
    return window.aggregate(key=Max("pk"))["key"] or cursor


def read_totals(source: Source, redis: Redis) -> tuple[int, dict[str, int]]:
    """The source's cursor and running totals, read together (one ``MULTI``)."""
    with redis.pipeline() as pipe:
        pipe.get(source.cursor_key)
        pipe.hgetall(source.totals_key)
        cursor, totals = pipe.execute()
    return int(cursor or 0), {key.decode(): int(value) for key, value in totals.items()}


class EpochMilliseconds(models.Func):
    """Milliseconds since 1970 of a datetime expression, on SQLite and PostgreSQL (the two backends)."""

    output_field = models.FloatField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django keeps SQLite datetimes as UTC text, which julianday() reads to about 0.1 ms.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400000.0)"
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        template = "(CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision) * 1000.0)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def histogram_fold(
    rows: models.QuerySet, *, name: str, value_ms: models.Expression, bounds: tuple[float, ...]
) -> dict[str, int]:
    """Cumulative bucket counts, count and sum (ms) of ``value_ms`` over ``rows``, in ONE aggregate query.

    Fields: ``{name}|le|{bound}`` (observations ≤ bound seconds), ``{name}|count``, ``{name}|sum_ms``.
    """
    rows = rows.order_by().annotate(observed_ms=value_ms)
    aggregates = {
        bucket_field(name, bound): Count("pk", filter=Q(observed_ms__lte=bound * 1000)) for bound in bounds
    }
    aggregates[f"{name}|count"] = Count("pk")
    aggregates[f"{name}|sum_ms"] = Sum("observed_ms")
    return {field: round(value or 0) for field, value in rows.aggregate(**aggregates).items()}


def bucket_field(name: str, bound: float) -> str:
    return f"{name}|le|{bound:g}"
