"""Gathering new deliveries into batch jobs, so RQ's cost per job is paid once per batch.

An RQ job costs about 60 Redis commands of bookkeeping whatever it does
(docs/performance.md): a third of a one-delivery job. Under load, each
process hands the deliveries committed in the last ``DELIVERY_BATCH_WINDOW_MS``
to a background thread, which queues them as ``deliver_batch`` jobs of up to
``DELIVERY_BATCH_SIZE`` deliveries of one priority (a worker sends a batch's
deliveries concurrently, each with its own claim, gates, attempt row and
retry schedule).

It adds no wait when the process is quiet: a delivery arriving after a pause
of at least one window is queued at once; only deliveries arriving while
others were queued in the last window wait for the rest of it. The callback
is committed (and M-Pesa answered) before its delivery gets here, so a
process that dies with deliveries still gathered loses no callback: the
sweeper queues them (docs/reliability.md), and the same happens when Redis
cannot be reached.

``DELIVERY_BATCH_WINDOW_MS = 0`` turns gathering off: each delivery is
queued, as its own ``deliver_webhook`` job, in the thread that committed it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings

from delivery.queues import enqueue_delivery, enqueue_delivery_batch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Due:
    delivery_id: int
    priority: int
    timeout_seconds: float


class DeliveryGatherer:
    """One per process: deliveries due now, gathered by a daemon thread into batch jobs."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._gathered: list[_Due] = []
        self._thread: threading.Thread | None = None
        self._owner_pid = 0
        self._last_flush = 0.0

    def add(self, *, delivery_id: int, priority: int, timeout_seconds: float) -> None:
        """Queue the delivery's job soon (or now, when gathering is off or the process is quiet)."""
        due = _Due(delivery_id, priority, timeout_seconds)
        if settings.DELIVERY_BATCH_WINDOW_MS <= 0:
            enqueue_delivery(delivery_id=delivery_id, priority=priority, timeout_seconds=timeout_seconds)
            return
        with self._condition:
            self._start_thread_in_this_process()
            self._gathered.append(due)
            self._condition.notify()

    def flush(self) -> int:
        """Queue everything gathered now, in this thread; returns how many deliveries were queued."""
        with self._condition:
            taken, self._gathered = self._gathered, []
        return _queue_batches(taken)

    def _start_thread_in_this_process(self) -> None:
        # A forked child (gunicorn's workers, RQ's scheduler) inherits the object but not the thread.
        if self._thread is not None and self._owner_pid == os.getpid() and self._thread.is_alive():
            return
        if self._owner_pid != os.getpid():
            self._gathered = []
        self._owner_pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="delivery-gatherer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._gathered:
                    self._condition.wait()
                window = settings.DELIVERY_BATCH_WINDOW_MS / 1000
                flush_at = self._last_flush + window
                size = max(1, settings.DELIVERY_BATCH_SIZE)
                while len(self._gathered) < size:
                    remaining = flush_at - time.monotonic()
                    if remaining <= 0:
                        break
                    self._condition.wait(remaining)
                # Full before the window ends: queue whole batches only and let the rest gather on (a
                # group commit hands over up to INBOUND_COMMIT_GROUP_MAX at once; 20 would make 16 + 4).
                cut = (
                    len(self._gathered)
                    if time.monotonic() >= flush_at
                    else size * (len(self._gathered) // size)
                )
                taken, self._gathered = self._gathered[:cut], self._gathered[cut:]
                self._last_flush = time.monotonic()
            try:
                _queue_batches(taken)
            except Exception:  # the thread must outlive anything; the sweeper queues what was not
                logger.exception(
                    "Queueing %d gathered deliveries failed; the sweeper will queue them", len(taken)
                )


def _queue_batches(taken: list[_Due]) -> int:
    """One job per priority and ``DELIVERY_BATCH_SIZE`` deliveries, most urgent priority first."""
    by_priority: dict[int, list[_Due]] = defaultdict(list)
    for due in taken:
        by_priority[due.priority].append(due)
    queued = 0
    size = max(1, settings.DELIVERY_BATCH_SIZE)
    for priority in sorted(by_priority, reverse=True):
        dues = by_priority[priority]
        for start in range(0, len(dues), size):
            chunk = dues[start : start + size]
            if enqueue_delivery_batch(
                delivery_ids=[due.delivery_id for due in chunk],
                priority=priority,
                timeout_seconds=max(due.timeout_seconds for due in chunk),
            ):
                queued += len(chunk)
    return queued


delivery_gatherer = DeliveryGatherer()
# A clean exit (gunicorn's graceful restart, a worker's warm shutdown) queues what is still gathered.
atexit.register(delivery_gatherer.flush)
