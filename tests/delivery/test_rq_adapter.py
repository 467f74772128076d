"""What the worker takes of RQ's insides, checked against the installed rq: an upgrade changing it fails here.

``delivery.rq_adapter`` is the only module that touches RQ's private names;
the worker (``delivery.worker``) and its scheduler thread
(``delivery.scheduler_thread``) override public methods of RQ's. Each test
below names what to read again when it fails.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import inspect
import logging
import signal
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker, SimpleWorker, WorkerStatus

import delivery
from delivery.queues import redis_connection
from delivery.rq_adapter import SchedulerClassWorker, SchedulerRunner
from delivery.scheduler_thread import ThreadedScheduler
from delivery.worker import DeliveryWorker

ADAPTER = Path(delivery.__file__).parent / "rq_adapter.py"

# RQ's bodies the adapter copies or the worker replaces, or that rely on where the adapter keeps the runner,
# as a digest of their code (docstring left out). A new digest means: read the new body, bring
# delivery/rq_adapter.py, delivery/worker.py or delivery/scheduler_thread.py in line, then update it here.
RQ_BODIES = {
    # copied into SchedulerClassWorker._start_scheduler (also compared line by line below)
    "BaseWorker._start_scheduler": "788ae5e1a67b8124",
    # replaced by DeliveryWorker.stop_scheduler (a thread has no pid to kill)
    "BaseWorker.stop_scheduler": "968f09025b30e488",
    # restarts the scheduler when its _process is missing or dead: our thread is kept there
    "BaseWorker.run_maintenance_tasks": "bd2b279e6eb23a38",
    # replaced by ThreadedScheduler.start and .work
    "RQScheduler.start": "2a6975690c132733",
    "RQScheduler.work": "5fc98a41beca992b",
    # acquire_locks(auto_start=True) starts the scheduler when its _process is missing or dead
    "RQScheduler.acquire_locks": "f9879fe4ba1fe77b",
    # the SIGTERM handler: calls stop_scheduler (ours waits for nothing there), then sets _stop_requested
    # for a busy worker or raises StopRequested for an idle one
    "BaseWorker.request_stop": "f1f6dea87bcd11b6",
    "BaseWorker._shutdown": "673fe0925f058dd2",
    # ask should_run_maintenance_tasks before each wait for a job (ours ends a stopped worker there)
    "BaseWorker.work": "4fb172339e3d1b31",
    "BaseWorker.dequeue_job_and_maintain_ttl": "d8c532970d2ce459",
}

# RQ's methods (and attributes) that the worker and the scheduler thread, or the adapter under them, override.
WORKER_OVERRIDES = {
    "__init__",
    "_start_scheduler",  # the adapter's
    "check_for_suspension",
    "dequeue_timeout",
    "execute_job",
    "heartbeat",
    "max_connection_wait_time",
    "perform_job",
    "request_stop",
    "run_maintenance_tasks",
    "set_shutdown_requested_date",
    "set_state",
    "should_run_maintenance_tasks",
    "stop_scheduler",
    "teardown",
    "work",
}
SCHEDULER_OVERRIDES = {"__init__", "request_stop", "start", "work"}


def _without_docstring(function) -> ast.FunctionDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    first = tree.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        tree.body = tree.body[1:]
    return tree


def _digest(function) -> str:
    return hashlib.sha256(ast.unparse(_without_docstring(function)).encode()).hexdigest()[:16]


@pytest.mark.parametrize("qualified_name", sorted(RQ_BODIES))
def test_rqs_bodies_that_the_adapter_copies_or_relies_on_are_those_it_was_written_against(qualified_name):
    owner, name = qualified_name.split(".")
    function = {"BaseWorker": BaseWorker, "RQScheduler": RQScheduler}[owner].__dict__[name]
    assert _digest(function) == RQ_BODIES[qualified_name], (
        f"rq changed {qualified_name}: read it against delivery/rq_adapter.py and the worker, then RQ_BODIES"
    )


def test_the_copied_start_scheduler_is_rqs_with_only_the_scheduler_class_changed():
    ours = _without_docstring(SchedulerClassWorker._start_scheduler)
    theirs = _without_docstring(BaseWorker._start_scheduler)

    class SchedulerClass(ast.NodeTransformer):
        def visit_Name(self, node):
            if node.id == "RQScheduler":
                return ast.Attribute(
                    value=ast.Name(id="self", ctx=ast.Load()), attr="scheduler_class", ctx=ast.Load()
                )
            return node

    expected = ast.fix_missing_locations(SchedulerClass().visit(theirs))
    assert ast.unparse(ours) == ast.unparse(expected)


def test_the_private_names_the_adapter_uses_exist_with_the_kind_it_expects():
    # BaseWorker._start_scheduler: called by work(with_scheduler=True) with these arguments
    parameters = list(inspect.signature(BaseWorker._start_scheduler).parameters)
    assert parameters == ["self", "burst", "logging_level", "date_format", "log_format"]
    assert "self._start_scheduler(" in inspect.getsource(BaseWorker.work)
    # RQScheduler's private state, as __init__ leaves it
    scheduler = RQScheduler(["normal", "low"], connection=redis_connection())
    assert scheduler._queue_names == {"normal", "low"}
    assert scheduler._process is None
    assert scheduler._status is RQScheduler.Status.STOPPED
    assert {RQScheduler.Status.STARTED, RQScheduler.Status.STOPPED} <= set(RQScheduler.Status)
    # ... and the public properties that read it
    assert isinstance(inspect.getattr_static(RQScheduler, "status"), property)
    assert isinstance(inspect.getattr_static(RQScheduler, "acquired_locks"), property)
    scheduler._status = RQScheduler.Status.STARTED
    assert scheduler.status is RQScheduler.Status.STARTED
    # BaseWorker._stop_requested: False until a stop, and what the work loop checks between jobs
    worker = SimpleWorker([Queue("normal", connection=redis_connection())], connection=redis_connection())
    assert worker._stop_requested is False
    assert "if self._stop_requested:" in inspect.getsource(BaseWorker.work)


def test_the_adapter_is_the_only_module_of_delivery_that_touches_rqs_private_names():
    """Private names of RQ's worker and scheduler (class or instance) used anywhere else in delivery/."""
    worker = SimpleWorker([Queue("normal", connection=redis_connection())], connection=redis_connection())
    scheduler = RQScheduler(["normal"], connection=redis_connection())
    rq_private = {
        name
        for holder in (SimpleWorker, RQScheduler, worker, scheduler)
        for name in dir(holder)
        if name.startswith("_") and not name.startswith("__")
    }
    found = {}
    for path in sorted(ADAPTER.parent.rglob("*.py")):
        if path == ADAPTER or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Attribute):
                names.append(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.append(node.name)
            for name in names:
                if name in rq_private:
                    found.setdefault(path.name, set()).add(name)
    assert found == {}


@pytest.mark.parametrize(
    ("ours", "theirs", "overrides"),
    [(DeliveryWorker, SimpleWorker, WORKER_OVERRIDES), (ThreadedScheduler, RQScheduler, SCHEDULER_OVERRIDES)],
)
def test_every_override_still_overrides_a_method_rq_calls_with_the_arguments_it_takes(
    ours, theirs, overrides
):
    mine = {
        name for klass in ours.__mro__ if klass.__module__.startswith("delivery.") for name in klass.__dict__
    }
    assert {name for name in mine if hasattr(theirs, name) and not _dunder_but_init(name)} == overrides
    for name in overrides:
        our_attribute = inspect.getattr_static(ours, name)
        their_attribute = inspect.getattr_static(theirs, name)
        assert type(our_attribute) is type(their_attribute), name
        if inspect.isfunction(our_attribute):
            named = [
                parameter.name
                for parameter in inspect.signature(our_attribute).parameters.values()
                if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            ]
            their_names = list(inspect.signature(their_attribute).parameters)
            assert their_names[: len(named)] == named, (
                f"{ours.__name__}.{name}{named} against rq's {their_names}"
            )
    assert "maintenance_interval" in inspect.signature(SimpleWorker.__init__).parameters


def _dunder_but_init(name: str) -> bool:
    return name.startswith("__") and name != "__init__"


class _ThreadSchedulerWorker(SchedulerClassWorker):
    scheduler_class = ThreadedScheduler


def test_rqs_maintenance_starts_another_runner_when_the_one_kept_by_the_adapter_died():
    # given a worker whose scheduler thread (kept as RQ keeps its process) has died
    worker = _ThreadSchedulerWorker(
        [Queue("normal", connection=redis_connection())], connection=redis_connection()
    )
    worker.scheduler = ThreadedScheduler(worker.queues, connection=worker.connection)
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    worker.scheduler.runner_started(dead)
    worker.last_cleaned_at = datetime.now(UTC) - timedelta(hours=1)
    # when RQ's maintenance runs
    worker.run_maintenance_tasks()
    # then it took the scheduler's locks and started another thread
    try:
        assert worker.scheduler.acquired_locks == {"normal"}
        assert worker.scheduler.runner is not dead
        assert worker.scheduler.runner.is_alive()
    finally:
        worker.scheduler.stop_thread()
    assert worker.scheduler.acquired_locks == set()


def test_a_burst_worker_with_the_scheduler_uses_the_adapters_scheduler_class_and_moves_due_jobs():
    queue = Queue("normal", connection=redis_connection())
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), "operator.add", 1, 2)
    worker = _ThreadSchedulerWorker([queue], connection=redis_connection())

    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")

    assert isinstance(worker.scheduler, ThreadedScheduler)
    assert isinstance(worker.scheduler, SchedulerRunner)
    assert worker.scheduler.runner is None  # a burst moves the due jobs inline and starts no thread
    assert job.get_status(refresh=True) == "finished"
    assert job.return_value() == 3


def test_a_worker_stopped_mid_pipeline_still_registers_its_death_cleanly():
    # given a worker, and a pooled connection left as a SIGTERM mid-pipeline leaves one: in a
    # transaction, its replies unread (RQ raises StopRequested from the signal handler anywhere)
    worker = DeliveryWorker([Queue("normal", connection=redis_connection())], connection=redis_connection())
    worker.register_birth()
    pool = worker.connection.connection_pool
    interrupted = pool.get_connection()
    interrupted.send_command("MULTI")
    interrupted.send_command("SET", "left-behind", "1")
    pool.release(interrupted)
    # when the worker tears down
    worker.teardown()
    # then its death is registered (out of the workers' set, its hash marked dead), and the
    # interrupted transaction never ran
    assert not worker.connection.sismember("rq:workers", worker.key)
    assert worker.connection.hget(worker.key, "death") is not None
    assert not worker.connection.exists("left-behind")


@contextlib.contextmanager
def _signal_handlers_kept():
    """RQ's request_stop installs its cold-shutdown handlers: give the test process its own back."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def _mid_log_line():
    """The main thread holding every logging handler's lock, as it does while it writes a log line."""
    handlers = [
        handler
        for name in ("", "rq", "rq.worker", "rq.scheduler", "delivery")
        for handler in logging.getLogger(name).handlers
    ]
    for handler in handlers:
        handler.acquire()
    try:
        yield
    finally:
        for handler in handlers:
            handler.release()


def test_a_sigterm_that_lands_mid_log_line_stops_at_once_and_the_teardown_releases_the_scheduler():
    # given an idle worker whose scheduler thread holds the queue's lock
    worker = DeliveryWorker([Queue("normal", connection=redis_connection())], connection=redis_connection())
    worker.register_birth()
    worker.set_state(WorkerStatus.IDLE)
    worker.scheduler = ThreadedScheduler(worker.queues, connection=worker.connection)
    worker.scheduler.acquire_locks()
    worker.scheduler.start()
    assert worker.scheduler.acquired_locks == {"normal"}
    # when SIGTERM's handler runs while the main thread is writing a log line (the scheduler thread
    # logs as it stops, so waiting for it there waited on the main thread's own lock)
    signalled = time.monotonic()
    with _signal_handlers_kept(), _mid_log_line(), pytest.raises(StopRequested):
        worker.request_stop(signal.SIGTERM, None)
    # then the handler returned at once, with the stop recorded
    assert time.monotonic() - signalled < 2
    assert worker.stop_requested
    # and the teardown waits for the thread, which released the lock
    worker.teardown()
    assert not worker.scheduler.runner.is_alive()
    assert worker.scheduler.acquired_locks == set()
    assert not worker.connection.exists("rq:scheduler-lock:normal")


def test_a_stop_caught_by_the_code_it_interrupted_still_ends_an_idle_worker_before_it_waits():
    # given an idle worker and a job in its queue
    queue = Queue("normal", connection=redis_connection())
    job = queue.enqueue("operator.add", 1, 2)
    worker = DeliveryWorker([queue], connection=redis_connection())
    worker.register_birth()
    worker.set_state(WorkerStatus.IDLE)
    # when SIGTERM's StopRequested is caught where it landed (logging's handleError catches any exception)
    with _signal_handlers_kept(), contextlib.suppress(StopRequested):
        worker.request_stop(signal.SIGTERM, None)
    # then the worker stops before it waits for (or takes) another job, and the job stays queued
    with pytest.raises(StopRequested):
        worker.dequeue_job_and_maintain_ttl(timeout=1)
    assert queue.job_ids == [job.id]
    worker.teardown()
