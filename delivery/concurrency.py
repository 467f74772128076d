"""Per-endpoint concurrency cap, shared by every worker process on every host (Redis).

Each delivery in flight holds a slot: a member of a Redis sorted set scored
by its expiry time. Expired slots are dropped before counting, so a worker
killed mid-delivery cannot leak its slot for longer than the expiry.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from redis.exceptions import RedisError

from delivery.queues import redis_connection

logger = logging.getLogger(__name__)

# KEYS[1]: the endpoint's slot set. ARGV: slot lifetime (s), limit, slot id.
# Redis's own clock scores the slots, so hosts with skewed clocks still agree.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[1]) * 1000, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 1000)
  return 1
end
return 0
"""


def _key(endpoint_id: int) -> str:
    return f"daraja:inflight:{endpoint_id}"


def acquire_slot(endpoint_id: int, *, lifetime_seconds: float) -> str | None:
    """A slot id when fewer than the cap are in flight for the endpoint, else ``None``.

    If Redis cannot be reached the cap is not enforced (a slot id is
    returned and a warning logged): holding every delivery back because the
    counter is unavailable would be worse than an uncapped moment.
    """
    slot = uuid.uuid4().hex
    try:
        granted = redis_connection().eval(
            _ACQUIRE,
            1,
            _key(endpoint_id),
            int(lifetime_seconds) + 1,
            settings.DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT,
            slot,
        )
    except RedisError as exc:
        logger.warning("Concurrency cap not enforced for endpoint %s (Redis: %s)", endpoint_id, exc)
        return slot
    return slot if granted else None


def release_slot(endpoint_id: int, slot: str) -> None:
    try:
        redis_connection().zrem(_key(endpoint_id), slot)
    except RedisError as exc:
        logger.warning("Slot of endpoint %s not released (Redis: %s); it expires by itself", endpoint_id, exc)


def in_flight(endpoint_id: int) -> int:
    """Deliveries in flight for the endpoint now (expired slots not counted)."""
    import time

    return redis_connection().zcount(_key(endpoint_id), int(time.time() * 1000), "+inf")
