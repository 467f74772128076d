"""A worker process's delivery threads: up to ``DELIVERY_BATCH_SIZE`` attempts in flight at once.

A ``deliver_batch`` job hands its deliveries to these threads and returns as
soon as each has a thread, so the worker takes its next job while they are
in flight: a receiver that takes 100 ms, or one that hangs for its whole
timeout, holds one thread, not the worker. When every thread is busy the job
waits for one, which is the back-pressure: the next job stays in Redis for a
worker that has room.

Each thread makes the attempt exactly as ``deliver_webhook`` does (claim,
gates, attempt row, retry or dead letter) and has its own database
connection. ``drain()`` waits for everything in flight; the worker calls it
before it exits, so a warm shutdown (SIGTERM) lets every attempt finish and
record itself. A hard kill leaves the claimed deliveries "delivering" for the
sweeper to put back (docs/reliability.md).

Threads that have had no work for ``DELIVERY_THREADS_IDLE_SECONDS`` are ended
(``release_idle_delivery_threads``, called by the worker between jobs), and
with them their database connections: an idle worker holds one connection,
not one per thread, so a fleet sized for a burst does not keep the database's
connection slots after it (Postgres refuses clients past ``max_connections``,
and the worker's own jobs would then fail).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


class DeliveryThreads:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="delivery")
        self._free = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._in_flight: set[Future] = set()
        self._last_activity = time.monotonic()

    def submit(self, attempt: Callable[[int], str], delivery_id: int) -> None:
        """Run ``attempt(delivery_id)`` on a free thread; blocks until one is free."""
        self._free.acquire()
        future = self._executor.submit(_on_thread, attempt, delivery_id)
        with self._lock:
            self._in_flight.add(future)
            self._last_activity = time.monotonic()
        future.add_done_callback(self._done)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def idle_for(self, seconds: float) -> bool:
        """Nothing in flight, and nothing started or finished, for at least ``seconds``."""
        with self._lock:
            return not self._in_flight and time.monotonic() - self._last_activity >= seconds

    def drain(self, timeout: float | None = None) -> int:
        """Wait until nothing is in flight (or ``timeout``); returns how many attempts are still running."""
        with self._lock:
            pending = set(self._in_flight)
        if pending:
            logger.info("Waiting for %d deliveries in flight to finish", len(pending))
        _, not_done = wait(pending, timeout=timeout)
        return len(not_done)

    def stop(self) -> None:
        """Wait for what is in flight, close every thread's database connection, end the threads."""
        # A connection belongs to its thread: each thread must close its own. The barrier makes every
        # thread take exactly one of these tasks (none can take a second before all have taken one).
        barrier = threading.Barrier(self.size)

        def close_this_threads_connections() -> None:
            try:
                barrier.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
            finally:
                connections.close_all()

        for _ in range(self.size):
            self._executor.submit(close_this_threads_connections)
        self._executor.shutdown(wait=True)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._in_flight.discard(future)
            self._last_activity = time.monotonic()
        self._free.release()


def _on_thread(attempt: Callable[[int], str], delivery_id: int) -> str:
    # Each thread keeps its own database connection: retire it when stale or broken (as per job).
    close_old_connections()
    try:
        return attempt(delivery_id)
    except Exception:
        logger.exception("Delivery %s failed on its thread; the sweeper will put it back", delivery_id)
        return "error"
    finally:
        close_old_connections()


_lock = threading.Lock()
_threads: DeliveryThreads | None = None


def delivery_threads() -> DeliveryThreads:
    """This process's delivery threads (made on first use)."""
    global _threads
    with _lock:
        if _threads is None:
            _threads = DeliveryThreads(settings.DELIVERY_BATCH_SIZE)
        return _threads


def drain_delivery_threads(timeout: float | None = None) -> int:
    """Wait for this process's deliveries in flight, if it ever started any."""
    with _lock:
        threads = _threads
    return threads.drain(timeout) if threads is not None else 0


def stop_delivery_threads() -> None:
    """End this process's delivery threads after their work; the next batch job starts new ones."""
    global _threads
    with _lock:
        threads, _threads = _threads, None
    if threads is not None:
        threads.stop()


def release_idle_delivery_threads(idle_seconds: float) -> bool:
    """End this process's delivery threads, closing their database connections, when idle that long.

    Call it only from the thread that submits deliveries (the worker's main
    thread, between jobs), so no submit can race the shutdown. The next batch
    job starts new threads. Returns whether the threads were ended.
    """
    global _threads
    with _lock:
        threads = _threads
        if threads is None or not threads.idle_for(idle_seconds):
            return False
        _threads = None
    threads.stop()
    return True
