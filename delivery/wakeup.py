"""Waking the workers: one coalesced RQ job per priority says "deliveries are due, come and claim them".

The database rows are the queue (``delivery.lifecycle`` claims them); RQ
carries only wake-ups. A wake-up is a ``drain_deliveries(priority)`` job on
that priority's queue, so workers still take urgent work first and
``manage.py rqworker urgent high normal low`` stays the worker command.

Coalescing, so a burst makes few jobs and no Redis command per callback:

* In a process, ``wake(priority)`` only marks the priority; a daemon thread
  sends the marks at once when the process was quiet, and at most once per
  ``DELIVERY_WAKE_WINDOW_MS`` per priority while it is busy.
* Across processes, a key per priority (``SET NX`` with an expiry) lets one
  drain job per priority wait in its queue at a time. A drain that runs keeps
  the key set (``keep_awake``) and finds new rows itself; before it ends it
  deletes the key (``let_wakeups_through``) and looks once more, so a row
  committed at any moment is either seen by it or wakes another drain. A
  drain with more due than it can take asks for one more (``help_wanted``),
  so every worker joins in a backlog.

Retries are woken at their time: ``wake_at`` schedules one drain job per
priority and second (a fixed job id), so retries due in the same second
share it. A wake-up lost with Redis (a flush, an outage) loses nothing: the
rows wait, and the sweep wakes their priority again (``delivery.sweeper``).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

from daraja.core.runtime import PerProcess
from delivery.priority import Priority
from delivery.queues import FAILED_JOB_TTL, delivery_queue, next_whole_second, redis_connection

logger = logging.getLogger(__name__)

DRAIN_JOB = "delivery.jobs.drain_deliveries"
# A drain stops claiming after DRAIN_CLAIM_SECONDS and then waits for its sends (each bounded by its
# endpoint's timeout, 120 s at most): RQ's job timeout has to cover both.
DRAIN_JOB_TIMEOUT = 300
# How long a wake key keeps other processes from queueing another drain job for its priority. A drain
# job deletes it when it starts; the expiry only matters when the job was lost.
WAKE_KEY_SECONDS = 10


def wake_key(priority: int) -> str:
    return f"daraja:wake:{Priority(priority).queue_name}"


class Woken(enum.Enum):
    QUEUED = "queued"  # a drain job was queued
    WAITING = "waiting"  # one was already waiting in the queue: it will see the rows
    REDIS_DOWN = "redis_down"  # nothing could be queued; the rows wait for the sweep

    def __bool__(self) -> bool:
        return self is not Woken.REDIS_DOWN


def wake_now(priority: int) -> Woken:
    """Queue a drain job for ``priority`` unless one is already waiting (falsy when Redis is down).

    Never raises for Redis trouble: the rows are committed and the sweep wakes them later.
    """
    try:
        if not redis_connection().set(wake_key(priority), "1", nx=True, ex=WAKE_KEY_SECONDS):
            return Woken.WAITING
        _queue_drain(priority)
    except RedisError as exc:
        logger.error(
            "❌ Redis unavailable: %s deliveries wait in the database for the sweep (%s)",
            Priority(priority).queue_name,
            exc,
        )
        return Woken.REDIS_DOWN
    return Woken.QUEUED


def keep_awake(priority: int) -> None:
    """A drain is awake for ``priority``: hold its wake key, so new deliveries queue no more jobs."""
    with contextlib.suppress(RedisError):  # then wake-ups queue jobs as usual: more jobs, nothing lost
        redis_connection().set(wake_key(priority), "1", ex=WAKE_KEY_SECONDS)


def let_wakeups_through(priority: int) -> None:
    """The drain is about to end: from now on a new delivery queues a drain job again."""
    with contextlib.suppress(RedisError):
        redis_connection().delete(wake_key(priority))


def help_wanted(priority: int) -> None:
    """More is due than one worker takes at once: queue one more drain (at most one a second)."""
    try:
        if redis_connection().set(f"daraja:help:{Priority(priority).queue_name}", "1", nx=True, px=1000):
            _queue_drain(priority)
    except RedisError as exc:
        logger.warning("Could not ask another worker to help drain (Redis: %s)", exc)


def wake_at(priority: int, at: datetime) -> bool:
    """Schedule a drain job for ``priority`` at ``at`` (rounded up to a whole second), one per second.

    RQ keeps schedule times in whole seconds, truncated; rounding up means no
    retry is claimed before its backoff has passed (the claim also checks
    ``next_attempt_at``). Returns ``False`` (and logs) when Redis is down.
    """
    at = next_whole_second(at)
    name = Priority(priority).queue_name
    try:
        delivery_queue(priority).enqueue_at(
            at,
            DRAIN_JOB,
            int(priority),
            job_id=f"daraja-drain-{name}-{int(at.timestamp())}",
            job_timeout=DRAIN_JOB_TIMEOUT,
            result_ttl=0,
            failure_ttl=FAILED_JOB_TTL,
            description=f"drain_deliveries({name}) at {at:%H:%M:%S}",
        )
    except RedisError as exc:
        logger.error("❌ Redis unavailable: %s retries due %s wait for the sweep (%s)", name, at, exc)
        return False
    return True


def _queue_drain(priority: int) -> None:
    delivery_queue(priority).enqueue_call(
        DRAIN_JOB,
        args=(int(priority),),
        timeout=DRAIN_JOB_TIMEOUT,
        result_ttl=0,
        failure_ttl=FAILED_JOB_TTL,
        description=f"drain_deliveries({Priority(priority).queue_name})",
    )


def wake_on_commit(priorities: Iterable[int]) -> None:
    """Wake the workers for these priorities once the current transaction commits."""
    wanted = set(priorities)
    if wanted:
        # robust: the rows are committed whatever happens here; a failure is logged, the sweep wakes them.
        transaction.on_commit(lambda: process_waker().wake(wanted), robust=True)


def wake_at_on_commit(priority: int, at: datetime) -> None:
    transaction.on_commit(lambda: wake_at(priority, at), robust=True)


class Waker:
    """One per process: coalesces ``wake`` calls into at most one wake-up per priority per window."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        # Held by whoever is sending (the thread or flush): a process that exits right after marking
        # (a management command) waits in flush for the thread's send instead of cutting it short.
        self._sending = threading.Lock()
        self._marked: set[int] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def wake(self, priorities: Iterable[int]) -> None:
        if settings.DELIVERY_WAKE_WINDOW_MS <= 0:
            for priority in sorted(set(priorities), reverse=True):
                wake_now(priority)
            return
        with self._condition:
            self._start_thread()
            self._marked.update(priorities)
            self._condition.notify()

    def flush(self) -> None:
        """Send every marked wake-up now, in this thread, after any send the thread has begun."""
        with self._sending:
            with self._condition:
                marked, self._marked = self._marked, set()
            for priority in sorted(marked, reverse=True):
                wake_now(priority)

    def close(self) -> None:
        """Send what is marked and let the thread end after its window; a later ``wake`` starts another."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        self.flush()

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="delivery-waker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._marked and not self._closed:
                    self._condition.wait()
                if not self._marked:  # closed, with nothing left to send
                    return
            # Marks are taken and sent under one lock: flush (at exit) never finds them gone but unsent.
            with self._sending:
                with self._condition:
                    marked, self._marked = self._marked, set()
                try:
                    for priority in sorted(marked, reverse=True):
                        wake_now(priority)
                except Exception:  # the thread must outlive anything; the sweep wakes what was missed
                    logger.exception("Waking the workers failed; the sweep will")
            # Whatever is marked during the window goes together at its end.
            time.sleep(settings.DELIVERY_WAKE_WINDOW_MS / 1000)


# A forked child (gunicorn's workers) gets a waker of its own, with no thread and no marks of its parent's
# (and no lock a parent's thread held at the fork). A clean exit (gunicorn's graceful restart) sends what
# is still marked.
_process_waker: PerProcess[Waker] = PerProcess(
    "delivery waker", Waker, close=Waker.close, at_exit=Waker.flush
)


def process_waker() -> Waker:
    """This process's waker (made on first use)."""
    return _process_waker.get()
