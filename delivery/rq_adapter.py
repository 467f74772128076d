"""The one module that touches RQ's private names (written against rq 2.12).

RQ has no hook for the class of a worker's scheduler, nor for a scheduler
that runs as anything but a forked process. Running it on a thread of the
worker (``delivery.scheduler_thread``), and a warm shutdown that cannot be
lost, take five private names, all here:

* ``BaseWorker._start_scheduler``, which ``work()`` calls to make and start
  the scheduler and which names ``RQScheduler`` itself: ``SchedulerClassWorker``
  replaces it with a copy of its body that makes ``scheduler_class`` instead;
* ``RQScheduler._process``: what runs the scheduler. RQ's maintenance
  (``run_maintenance_tasks``, and ``acquire_locks(auto_start=True)``) starts
  another one when it is missing or not alive, so a thread is stored there;
* ``RQScheduler._status``: set to STARTED when the runner starts, as RQ's
  ``start()`` does (``status`` is read-only);
* ``RQScheduler._queue_names``: the queues the scheduler serves;
* ``BaseWorker._stop_requested``: the flag RQ's work loop checks between
  jobs, which RQ sets only for a busy worker (an idle one gets
  ``StopRequested`` raised from the signal handler instead).

``tests/delivery/test_rq_adapter.py`` checks each of these, the methods the
worker overrides and the bodies copied or replaced against the installed
rq: an upgrade that changes them fails there, not in production.
"""

from __future__ import annotations

import threading

from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker


class SchedulerRunner(RQScheduler):
    """RQ's scheduler with the private state a runner of its own needs, under public names."""

    @property
    def queue_names(self) -> set[str]:
        """The names of the queues this scheduler moves due jobs for (locked or not)."""
        return self._queue_names

    @property
    def runner(self) -> threading.Thread | None:
        """What runs the scheduler (None before the first start): RQ's maintenance replaces it when dead."""
        return self._process

    def runner_started(self, runner: threading.Thread) -> None:
        """Record ``runner`` as RQ records its process: status STARTED, kept where maintenance looks."""
        self._status = self.Status.STARTED
        self._process = runner


class SchedulerClassWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` that makes ``scheduler_class`` where RQ makes ``RQScheduler``."""

    scheduler_class: type[RQScheduler] = RQScheduler

    @property
    def stop_requested(self) -> bool:
        """A warm shutdown was requested: the work loop ends after the job in hand."""
        return self._stop_requested

    def note_stop_requested(self) -> None:
        """Record a warm shutdown as RQ does for a busy worker; its work loop checks it between jobs."""
        self._stop_requested = True

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ):
        # BaseWorker._start_scheduler of rq 2.12, with scheduler_class for RQScheduler. A burst worker
        # moves the due jobs once, inline, and starts nothing.
        self.scheduler = self.scheduler_class(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            if burst:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            else:
                self.scheduler.start()
