"""RQ's scheduler on a thread of the worker process, instead of the process RQ forks for it."""

from __future__ import annotations

import os
import threading

from redis.exceptions import RedisError

from delivery.rq_adapter import SchedulerRunner

# Longer than a Redis call that times out (REDIS_SOCKET_TIMEOUT, 5 s by default), so that a scheduler
# caught in one still gets to release its locks; short enough not to hold up a process manager's stop.
STOP_TIMEOUT_SECONDS = 10.0


class ThreadedScheduler(SchedulerRunner):
    """RQ's scheduler, run on a daemon thread named "Scheduler" of the worker that holds its locks.

    RQ forks a process for the scheduler, which costs a worker's worth of memory
    (≈ 75 MB) to move due jobs to their queues once a second. Everything else is
    RQ's: one scheduler per queue across all workers through the
    ``rq:scheduler-lock:<queue>`` keys, refreshed by every heartbeat with a TTL
    of ``interval + 60`` seconds (so a killed worker's locks expire and another
    worker's maintenance takes them over), the scheduler's hash registered at
    birth and deleted at death, due jobs moved every ``interval`` seconds.

    The thread is the scheduler's ``runner``, kept where RQ keeps its process
    (``delivery.rq_adapter``): a worker's maintenance starts another one when
    it is not alive. The thread installs no signal handlers (only the main
    thread may); the worker stops it with ``stop_thread()``. A Redis error is
    logged and the next round tries again; any other error ends the thread,
    logged with its traceback.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Wakes the thread from its wait between rounds, so that a stop takes effect at once.
        self._stop_event = threading.Event()

    def request_stop(self, signum=None, frame=None):
        """Asks the thread to release the locks and end; no thread is started after this."""
        super().request_stop(signum, frame)
        self._stop_event.set()

    def start(self) -> threading.Thread | None:
        """Starts the scheduler's thread, unless a stop was requested (the worker is shutting down)."""
        if self._stop_event.is_set():
            # RQ's maintenance may take the locks again after the worker began a warm shutdown; the
            # worker's teardown releases them.
            self.log.debug("Scheduler: not started, the worker is stopping")
            return None
        thread = threading.Thread(target=self._run, name="Scheduler", daemon=True)
        self.runner_started(thread)
        thread.start()
        return thread

    def _run(self) -> None:
        queues = ", ".join(sorted(self.queue_names))
        self.log.info("Scheduler for %s started on a thread of worker process %s", queues, os.getpid())
        try:
            self.work()
        except Exception:
            self.log.exception("Scheduler thread for %s failed; the worker's maintenance restarts it", queues)
            return
        self.log.info("Scheduler thread for %s has stopped", queues)

    def work(self) -> None:
        """Moves due scheduled jobs to their queues every ``interval`` seconds until a stop is requested.

        Each round: take the locks again when RQ says so, heartbeat (refreshes
        the locks held, drops those another scheduler took over), enqueue the
        jobs that are due. When stopped, releases the locks and deletes the
        scheduler's hash.
        """
        born = False
        while not self._stop_event.is_set():
            try:
                if not born:
                    self.register_birth()
                    born = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
            except RedisError as exc:
                # The locks outlive an outage shorter than their TTL; after a longer one the heartbeat
                # takes them again if no other scheduler has.
                self.log.warning("Scheduler: Redis unavailable (%s); trying again in %ss", exc, self.interval)
            self._stop_event.wait(self.interval)
        try:
            self.stop()
        except RedisError as exc:
            self.log.warning("Scheduler: Redis unavailable while stopping (%s); its locks will expire", exc)

    def stop_thread(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stops the scheduler: the locks it holds are released and its hash deleted.

        The thread does that itself; this waits for it at most ``timeout``
        seconds. A thread still busy then (in a Redis call that hangs) is left
        to end with the process, and its locks expire after ``interval + 60``
        seconds like a killed worker's. What a thread that died or never
        started left undone is done here. A second call does nothing more.
        Redis errors are raised to the caller.
        """
        self.request_stop()
        thread = self.runner
        if thread is not None and thread.is_alive():
            thread.join(timeout)
            if thread.is_alive():
                self.log.warning(
                    "Scheduler thread did not stop within %s s; its locks expire on their own", timeout
                )
                return
        if self.acquired_locks or (thread is not None and self.status is not self.Status.STOPPED):
            self.stop()
