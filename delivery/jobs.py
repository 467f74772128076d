"""RQ entry points. A job carries ids and nothing else; the rows say what to do."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from daraja.request_context import flow_context
from delivery.attempts import delivery_attempt, endpoint_probe

logger = logging.getLogger(__name__)

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def deliver_webhook(delivery_id: int) -> str:
    """Job type ``deliver_webhook``: make the delivery's next attempt if it is still due."""
    with flow_context(delivery_id=delivery_id):  # every log line of the job carries the delivery id
        return delivery_attempt(delivery_id=delivery_id)


def deliver_batch(delivery_ids: list[int]) -> dict[int, str]:
    """Job type ``deliver_batch``: each delivery's next attempt, all of them at once.

    Each delivery goes through exactly what ``deliver_webhook`` does (its own
    claim, gates, attempt row, retry or dead letter), on one of the worker's
    ``DELIVERY_BATCH_SIZE`` delivery threads, so a batch takes about as long as
    its slowest delivery and a receiver that takes 100 ms does not need one
    process per request in flight. Returns each delivery's outcome; a
    delivery whose attempt raised is reported as ``"error"`` (and logged) and
    left to the sweeper, as a crashed single job would be.
    """
    if len(delivery_ids) == 1:
        return {delivery_ids[0]: deliver_webhook(delivery_ids[0])}
    futures = {
        delivery_id: _delivery_pool().submit(_deliver_on_thread, delivery_id) for delivery_id in delivery_ids
    }
    return {delivery_id: future.result() for delivery_id, future in futures.items()}


def _deliver_on_thread(delivery_id: int) -> str:
    # Each thread has its own database connection: retire it when stale or broken, as the worker does per job.
    close_old_connections()
    try:
        return deliver_webhook(delivery_id)
    except Exception:
        logger.exception("Delivery %s failed inside its batch; the sweeper will put it back", delivery_id)
        return "error"
    finally:
        close_old_connections()


def _delivery_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(1, settings.DELIVERY_BATCH_SIZE), thread_name_prefix="delivery"
            )
        return _pool


def probe_endpoint(endpoint_id: int) -> str:
    """Send one held delivery of an endpoint whose circuit is open, as the circuit's probe."""
    with flow_context(endpoint_id=endpoint_id):
        return endpoint_probe(endpoint_id=endpoint_id)
