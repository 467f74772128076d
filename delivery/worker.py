"""The worker class ``manage.py rqworker`` runs (settings.RQ["WORKER_CLASS"])."""

from django.conf import settings
from django.db import close_old_connections
from redis.exceptions import RedisError
from rq import worker_registration
from rq.exceptions import StopRequested
from rq.worker import WorkerStatus

from delivery import engine
from delivery.rq_adapter import SchedulerClassWorker
from delivery.scheduler_thread import ThreadedScheduler
from delivery.sweeper import sweep_enqueue_if_due


class DeliveryWorker(SchedulerClassWorker):
    """Runs jobs in the worker process itself, without RQ's fork per job (RQ's ``SimpleWorker``).

    Delivery jobs are short and I/O bound: forking a Django process for each
    costs more than the delivery and throws away the HTTP connection pool.
    Database connections that went stale or broke are closed around every
    job, so a long-lived worker survives database restarts and never meets
    "connection already closed". SIGTERM still lets the job in flight finish
    (RQ's warm shutdown) before the worker exits.

    Three additions to RQ's worker (docs/reliability.md):

    * Maintenance every ``SWEEP_INTERVAL_SECONDS`` (RQ's default is 10
      minutes, and an idle worker only gets there when its blocking wait
      times out, hence the shorter wait). Besides RQ's own chores (restart a
      scheduler thread that died, clean registries) it queues the sweep
      when it is due (one per interval across all workers; not in burst
      mode) and registers the worker again if a flush made Redis forget it.
    * A Redis outage does not end the worker. RQ retries a lost connection
      only while waiting for a job; anywhere else (finishing a job, a
      heartbeat, maintenance) the error would stop the worker. Here those
      calls log and carry on, and the next wait for a job backs off until
      Redis answers. Whatever a lost bookkeeping write leaves undone, the
      database knows, and the sweep repairs. (A Redis that stops answering
      instead of refusing connections still stops the worker after the
      socket timeout, as RQ decides; the process manager restarts it.)
    * ``--with-scheduler`` runs RQ's scheduler on a thread of this process
      (``delivery.scheduler_thread``) rather than a forked process of its own,
      which saves that process's memory. Which worker schedules, and when
      another takes over, is RQ's; a warm shutdown stops the thread and
      releases the scheduler's locks before the worker exits. What this takes
      of RQ's private names is in ``delivery.rq_adapter``.
    """

    scheduler_class = ThreadedScheduler

    # While Redis is unreachable RQ retries with a doubling wait, up to a minute by default; a refused
    # connection costs nothing, and capping the wait at 5 s means work resumes within 5 s of Redis's return.
    max_connection_wait_time = 5.0

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", settings.SWEEP_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)
        self._periodic_jobs = True
        self._in_signal_handler = False

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(self.worker_ttl - 15, self.maintenance_interval))

    def work(self, burst: bool = False, *args, **kwargs):
        # A burst worker (tests, a one-off drain) only empties the queues; periodic jobs are for the fleet.
        self._periodic_jobs = not burst
        engine.stop_claiming.clear()
        return super().work(burst, *args, **kwargs)

    def request_stop(self, signum, frame):
        """Warm shutdown: a drain in progress stops claiming and lets its sends finish and record.

        This is the SIGTERM handler, so it runs wherever the main thread was,
        possibly holding a lock (a logging handler's, mid-line). So it waits
        for nothing: the scheduler thread is only asked to stop (the teardown
        waits for it and releases its locks). And the stop is recorded before
        RQ raises ``StopRequested`` into that interrupted code, which may catch
        it (logging's ``handleError`` catches every exception): the work loop
        still ends, after the job in hand or, idle, before its next wait for a
        job (``should_run_maintenance_tasks``).
        """
        engine.stop_claiming.set()
        self.note_stop_requested()
        self._in_signal_handler = True
        try:
            return super().request_stop(signum, frame)
        finally:
            self._in_signal_handler = False

    def teardown(self):
        """Closes the idle Redis connections first, then registers the worker's death as RQ does.

        A warm shutdown of an idle worker raises RQ's ``StopRequested`` from the
        signal handler wherever the main thread is. Raised while a pipeline's
        replies are read (RQ cleans its registries with pipelines), it leaves that
        connection in the pool with a transaction open, and the death's own
        pipeline would read the stale replies and fail ("Wrong number of response
        items"), ending the worker with a traceback and exit code 1 instead of
        a clean stop. A fresh connection has nothing stale to read.
        """
        try:
            self.connection.connection_pool.disconnect(inuse_connections=False)
        except RedisError as exc:
            self._redis_lost("closing idle connections", exc)
        super().teardown()

    def perform_job(self, job, queue):
        close_old_connections()
        try:
            return super().perform_job(job, queue)
        finally:
            close_old_connections()

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except RedisError as exc:
            self._redis_lost(f"finishing job {job.id}", exc)

    def stop_scheduler(self):
        """Stops the scheduler thread (waiting a few seconds at most) and releases its locks.

        RQ calls it on a warm shutdown, from the signal handler, and again at
        teardown. From the handler it only asks the thread to stop: waiting
        there could wait on a lock the interrupted main thread holds (the
        thread logs as it stops). The teardown waits and releases what is
        left; a second call does nothing. RQ's version kills a process by its
        pid, which a thread does not have.
        """
        if self._in_signal_handler:
            self.scheduler.request_stop()
            return
        try:
            self.scheduler.stop_thread()
        except RedisError as exc:  # the locks expire on their own; the shutdown must go on
            self._redis_lost("stopping the scheduler", exc)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """RQ asks this at the top of each turn of its work loop and before each wait for a job.

        A stop requested while the worker is not busy ends the worker here,
        before it waits: the signal handler's ``StopRequested`` may have been
        caught by the code it interrupted, and an idle worker would otherwise
        wait until a job came.
        """
        if self.stop_requested and self.get_state() != WorkerStatus.BUSY:
            self.log.info("Worker %s: stopping on request", self.name)
            raise StopRequested
        return super().should_run_maintenance_tasks

    def run_maintenance_tasks(self):
        try:
            super().run_maintenance_tasks()
            self._register_again_if_forgotten()
            if self._periodic_jobs and sweep_enqueue_if_due():
                self.log.debug("Worker %s: sweep queued", self.name)
        except RedisError as exc:
            self._redis_lost("running maintenance", exc)

    def check_for_suspension(self, burst: bool):
        try:
            super().check_for_suspension(burst)
        except RedisError as exc:
            self._redis_lost("checking for suspension", exc)

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        try:
            return super().heartbeat(timeout)
        except RedisError as exc:
            self._redis_lost("sending a heartbeat", exc)

    def set_state(self, state, pipeline=None):
        if pipeline is not None:
            return super().set_state(state, pipeline)
        try:
            return super().set_state(state)
        except RedisError as exc:
            self._redis_lost(f"recording state {state}", exc)

    def set_shutdown_requested_date(self):
        try:
            super().set_shutdown_requested_date()
        except RedisError as exc:  # SIGTERM during an outage must still be a warm shutdown
            self._redis_lost("recording the shutdown request", exc)

    def _register_again_if_forgotten(self) -> None:
        """A FLUSHALL (or a restart without persistence) drops this worker from RQ's lists: rejoin them."""
        if self.connection.hexists(self.key, "birth"):
            return
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            pipeline.execute()
        self.log.warning("Worker %s: Redis had forgotten this worker; registered again", self.name)

    def _redis_lost(self, doing: str, exc: RedisError) -> None:
        self.log.warning("Worker %s: Redis unavailable while %s (%s); carrying on", self.name, doing, exc)
