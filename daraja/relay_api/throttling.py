"""Per-key rate limiting, counted in Redis so that every web process shares one count.

DRF's own ``SimpleRateThrottle`` keeps its history in Django's cache, which
here is per-process memory, and reads then writes it (two processes can
both let a request through). This throttle is a fixed window per key:
``INCR`` of a Redis counter named after the key and the window, which is
atomic across processes; the counter expires with its window. A fixed
window lets a client send up to twice the rate across a window boundary;
for protecting the relay from a runaway script that is good enough.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from daraja.relay_api.authentication import ApiClient
from delivery.queues import redis_connection

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"1200/min"`` → ``(1200, 60)``: requests allowed per period (second, minute, hour or day)."""
    count, _, period = rate.partition("/")
    unit = period.strip()[:1].lower()
    if not count.strip().isdigit() or unit not in PERIODS or int(count) < 1:
        raise ImproperlyConfigured(
            f"API_THROTTLE_RATE must look like '1200/min' (a count per sec, min, hour or day); got {rate!r}"
        )
    return int(count), PERIODS[unit]


class ApiKeyRateThrottle(BaseThrottle):
    """``settings.API_THROTTLE_RATE`` requests per key per period; over it → 429 with ``Retry-After``.

    Requests without an API key are not counted (they are refused before
    this runs). When Redis cannot be reached the request is let through:
    a throttle must not take the API down with it.
    """

    def allow_request(self, request, view) -> bool:
        self.wait_seconds = None
        client = request.user
        if not isinstance(client, ApiClient):
            return True
        limit, period = parse_rate(settings.API_THROTTLE_RATE)
        now = time.time()
        window = int(now // period)
        counter = f"daraja:api-throttle:{client.key_id}:{period}:{window}"
        try:
            pipeline = redis_connection().pipeline()
            pipeline.incr(counter)
            pipeline.expire(counter, period + 1)
            count, _ = pipeline.execute()
        except RedisError as exc:
            logger.warning("⚠️ API throttle skipped, Redis unavailable: %s", exc)
            return True
        if count <= limit:
            return True
        self.wait_seconds = max(1, math.ceil((window + 1) * period - now))
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
