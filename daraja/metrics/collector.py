"""The custom collector behind ``/metrics`` and the registry that holds only it.

The registry deliberately leaves out prometheus_client's process and
platform collectors: those describe whichever gunicorn process answered
the scrape, which is noise when several answer in turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from redis.exceptions import RedisError

from daraja.metrics.counters import counter_families, fold_all
from daraja.metrics.gauges import database_families, queue_families
from delivery.queues import redis_connection

logger = logging.getLogger(__name__)


class RelayCollector(Collector):
    """Everything ``/metrics`` shows, read when it is scraped.

    Redis down: the queue gauges and the counters (whose totals live in
    Redis) are left out and ``daraja_redis_up`` is 0. Database down: the
    database gauges and the counters are left out and ``daraja_database_up``
    is 0. A scrape never fails because one of them is down.
    """

    def collect(self) -> Iterator:
        started = time.perf_counter()
        now = timezone.now()
        redis = redis_connection()

        redis_up = True
        try:
            yield from _all_or_nothing(queue_families())
        except RedisError as exc:
            redis_up = False
            logger.error("❌ Metrics: Redis unavailable: %s", exc)

        database_up = True
        try:
            yield from _all_or_nothing(database_families(now=now))
        except DatabaseError as exc:
            database_up = False
            logger.error("❌ Metrics: database unavailable: %s", exc)

        if redis_up:
            if database_up:
                try:
                    fold_all(redis, now=now)
                except DatabaseError as exc:
                    # The totals stay as they were; the rows are folded at a later scrape.
                    logger.error("❌ Metrics: counters not brought up to date: %s", exc)
            try:
                yield from _all_or_nothing(counter_families(redis))
            except (RedisError, DatabaseError) as exc:
                logger.error("❌ Metrics: counters unavailable: %s", exc)

        yield GaugeMetricFamily("daraja_redis_up", "1 when Redis answered this scrape.", value=int(redis_up))
        yield GaugeMetricFamily(
            "daraja_database_up", "1 when the database answered this scrape.", value=int(database_up)
        )
        yield GaugeMetricFamily(
            "daraja_metrics_collect_seconds",
            "Time this scrape spent reading the database and Redis.",
            value=time.perf_counter() - started,
        )


def _all_or_nothing(families: Iterator) -> list:
    """Collect a group completely before yielding any of it, so a failure halfway shows none of the group."""
    return list(families)


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(RelayCollector())
