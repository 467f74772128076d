"""``rqworker … --with-scheduler`` runs RQ's scheduler on a thread of the worker process, not a forked child.

Real ``manage.py rqworker`` processes (the fault suite's harness, tests/faults/)
on a redis-server of each test's own, so that the scheduler locks seen here are
only these workers'.
"""

from __future__ import annotations

import operator
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from tests.faults.processes import QUEUES, Database, RedisServer, Service, manage, wait_for, worker
from tests.faults.stack import relay_env

LOCK_KEYS = [f"rq:scheduler-lock:{queue}" for queue in QUEUES]


@pytest.fixture(scope="module")
def database():
    """A migrated SQLite database, for the sweeps the workers run (the tests here deliver nothing)."""
    directory = Path(tempfile.mkdtemp(prefix="daraja-scheduler-thread-"))
    database = Database.sqlite(directory / "db.sqlite3")
    env = relay_env(database_url=database.url, redis_url="redis://127.0.0.1:1/0", var_dir=directory / "var")
    migrated = manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    yield database
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(database, redis_server, tmp_path):
    """Start a real ``rqworker urgent high normal low --with-scheduler``; all are stopped after the test."""
    env = relay_env(database_url=database.url, redis_url=redis_server.url, var_dir=tmp_path / "var")
    started: list[Service] = []

    def start(name: str) -> Service:
        service = worker(env, tmp_path, name)
        started.append(service)
        wait_for(
            lambda: redis_server.client().sismember("rq:workers", f"rq:worker:{name}"),
            timeout=60,
            what=f"worker {name} to register",
        )
        return service

    yield start
    for service in started:
        if service.alive():
            service.kill()
        print(service.tail(60))  # shown by pytest when the test failed


def lock_holders(redis_server: RedisServer) -> set[int | None]:
    """The pids of the workers whose scheduler holds each queue's lock (None: a lock nobody holds)."""
    client = redis_server.client()
    holders = set()
    for key in LOCK_KEYS:
        name = client.get(key)
        pid = client.hget(f"rq:scheduler:{name.decode()}", "pid") if name else None
        holders.add(int(pid) if pid else None)
    return holders


def schedule_add(redis_server: RedisServer, *, seconds_ahead: float) -> Job:
    """Schedule ``operator.add(1, 2)`` on the normal queue, as retries are scheduled (``enqueue_at``)."""
    queue = Queue("normal", connection=redis_server.client())
    return queue.enqueue_at(datetime.now(UTC) + timedelta(seconds=seconds_ahead), operator.add, 1, 2)


def wait_until_run(job: Job, *, timeout: float = 60) -> None:
    wait_for(lambda: job.get_status(refresh=True) == "finished", timeout=timeout, what=f"job {job.id} to run")
    assert job.return_value() == 3


def test_the_scheduler_runs_on_a_thread_of_the_worker_and_moves_due_jobs_to_their_queues(
    start_worker, redis_server
):
    # given a worker started with --with-scheduler
    service = start_worker("alone")
    wait_for(lambda: lock_holders(redis_server) == {service.pid}, timeout=30, what="the scheduler locks")
    # when a job is scheduled two seconds ahead
    job = schedule_add(redis_server, seconds_ahead=2)
    assert ScheduledJobRegistry("normal", connection=redis_server.client()).count == 1
    # then the worker's scheduler moves it to its queue when due, and the worker runs it
    wait_until_run(job)
    assert ScheduledJobRegistry("normal", connection=redis_server.client()).count == 0
    # and the scheduler is this very process: no child was forked for it
    assert psutil.Process(service.pid).children(recursive=True) == []
    [scheduler_key] = redis_server.client().keys("rq:scheduler:*")
    assert int(redis_server.client().hget(scheduler_key, "pid")) == service.pid


def test_sigterm_stops_the_scheduler_thread_and_releases_its_locks(start_worker, redis_server):
    # given a worker whose scheduler holds every queue's lock
    service = start_worker("stopping")
    wait_for(lambda: lock_holders(redis_server) == {service.pid}, timeout=30, what="the scheduler locks")
    # when the process manager stops it
    signalled = time.monotonic()
    exit_code = service.terminate(wait=30)
    # then it exits cleanly and promptly, its locks released and its scheduler's hash deleted
    assert exit_code == 0
    assert time.monotonic() - signalled < 15
    client = redis_server.client()
    assert client.exists(*LOCK_KEYS) == 0
    assert client.keys("rq:scheduler:*") == []
    assert "Scheduler thread for high, low, normal, urgent has stopped" in service.log_path.read_text()


def test_a_standby_worker_takes_the_scheduler_over_when_the_holder_stops(start_worker, redis_server):
    # given two workers, of which the first holds the scheduler locks
    first = start_worker("first")
    wait_for(lambda: lock_holders(redis_server) == {first.pid}, timeout=30, what="the first worker's locks")
    second = start_worker("second")
    time.sleep(3)  # several of the second worker's maintenance rounds (SWEEP_INTERVAL_SECONDS=1)
    assert lock_holders(redis_server) == {first.pid}
    # when the first one is stopped
    assert first.terminate(wait=30) == 0
    # then the second worker's maintenance takes the locks and its scheduler moves due jobs
    wait_for(lambda: lock_holders(redis_server) == {second.pid}, timeout=30, what="the second worker's locks")
    wait_until_run(schedule_add(redis_server, seconds_ahead=1))
    assert psutil.Process(second.pid).children(recursive=True) == []


def test_a_killed_holders_locks_expire_and_a_standby_worker_takes_over(start_worker, redis_server):
    # given two workers, of which the first holds the scheduler locks
    first = start_worker("holder")
    wait_for(lambda: lock_holders(redis_server) == {first.pid}, timeout=30, what="the first worker's locks")
    second = start_worker("standby")
    # when the first one is SIGKILLed, its locks left to expire
    first.kill()
    client = redis_server.client()
    ttls = [client.ttl(key) for key in LOCK_KEYS]
    assert all(0 < ttl <= 61 for ttl in ttls), ttls  # RQ's TTL: the scheduler's interval (1 s) + 60 s
    # (the test brings the expiry forward rather than waiting a minute for it)
    for key in LOCK_KEYS:
        client.pexpire(key, 1)
    # then the second worker's maintenance takes the locks and its scheduler moves due jobs
    wait_for(lambda: lock_holders(redis_server) == {second.pid}, timeout=30, what="the standby's locks")
    wait_until_run(schedule_add(redis_server, seconds_ahead=1))


def test_the_scheduler_thread_carries_on_through_a_redis_outage(start_worker, redis_server):
    # given a worker whose scheduler holds the locks
    service = start_worker("outage")
    wait_for(lambda: lock_holders(redis_server) == {service.pid}, timeout=30, what="the scheduler locks")
    # when Redis crashes for a few seconds and comes back (append-only: the locks survive)
    redis_server.crash()
    time.sleep(3)
    redis_server.start()
    # then the same thread, in the same process, schedules again
    wait_until_run(schedule_add(redis_server, seconds_ahead=1))
    assert service.alive()
    assert lock_holders(redis_server) == {service.pid}
    log = service.log_path.read_text()
    assert "Scheduler: Redis unavailable" in log
    assert "Scheduler thread for high, low, normal, urgent failed" not in log


def test_a_scheduler_thread_that_failed_is_restarted_by_the_workers_maintenance(start_worker, redis_server):
    # given a worker whose scheduler holds the locks
    service = start_worker("poisoned")
    wait_for(lambda: lock_holders(redis_server) == {service.pid}, timeout=30, what="the scheduler locks")
    # when a due scheduled job's hash cannot be read (no "data": RQ raises NoSuchJobError, not a Redis error)
    client = redis_server.client()
    client.hset("rq:job:poison", "origin", "normal")
    client.zadd("rq:scheduled:normal", {"poison": int(time.time()) - 1})
    wait_for(
        lambda: "Scheduler thread for high, low, normal, urgent failed" in service.log_path.read_text(),
        timeout=30,
        what="the scheduler thread to fail",
    )
    # then the failure is logged with its traceback
    assert "NoSuchJobError" in service.log_path.read_text()
    # and once the poison is gone, a thread the maintenance started anew schedules again
    client.zrem("rq:scheduled:normal", "poison")
    wait_until_run(schedule_add(redis_server, seconds_ahead=1))
    assert service.alive()
    started = "Scheduler for high, low, normal, urgent started on a thread"
    assert service.log_path.read_text().count(started) >= 2
    assert psutil.Process(service.pid).children(recursive=True) == []
