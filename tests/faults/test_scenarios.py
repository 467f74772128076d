"""Fault injection: a few hundred callbacks per scenario while workers are killed, Redis crashes, is
flushed or is down, the receiver fails half the time, or the database restarts.

Each scenario ends with every callback that got a 200 at the receiver at least
once, ``manage.py reconcile`` finding nothing unaccounted for (and every delivery
delivered), and a printed line with the duplicates the receiver saw and how long
after the fault ended the last callback arrived (docs/reliability.md quotes them).
Random choices come from one seed, printed; ``FAULTS_SEED=<n>`` replays a run.
"""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.faults.processes import wait_for
from tests.faults.stack import Stack, postgres_server_url
from tests.faults.traffic import FaultyReceiver, Pusher

pytestmark = pytest.mark.faults

SEED = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1_000_000))
CALLBACKS = 250


@dataclass
class Run:
    name: str
    stack: Stack
    receiver: FaultyReceiver
    pusher: Pusher
    since: object
    fault_ended: float = 0.0


@contextmanager
def scenario(template, receiver: FaultyReceiver, name: str, *, workers: int = 2, **receiver_settings):
    receiver.reset(seed=SEED, **receiver_settings)
    stack = Stack(template, name, workers=workers)
    try:
        yield Run(
            name, stack, receiver, stack.pusher(name, SEED), since=timezone.now() - timedelta(seconds=5)
        )
    except Exception as failure:
        raise AssertionError(f"{failure}\n--- logs of {name} ---\n{stack.logs()}") from failure
    finally:
        stack.close()


def settle_and_report(run: Run, capsys) -> dict:
    """Wait until every accepted callback reached the receiver and reconcile shows all delivered; report."""
    run.pusher.wait()
    accepted = run.pusher.accepted
    assert len(accepted) == CALLBACKS
    wait_for(
        lambda: accepted <= run.receiver.accepted_ids(), timeout=120, what="every callback at the receiver"
    )
    arrivals = run.receiver.first_accepted_at
    last_arrival = max(arrivals[checkout_id] for checkout_id in accepted)
    waits = sorted(arrivals[checkout_id] - run.pusher.accepted_at[checkout_id] for checkout_id in accepted)

    def all_delivered():
        code, result = run.stack.reconcile(run.since)
        return (code, result) if result["states"]["delivered"] == result["received"] else None

    code, result = wait_for(
        all_delivered, timeout=60, every=0.5, what="reconcile to show every delivery delivered"
    )
    assert code == 0
    assert (result["ok"], result["unaccounted"], result["problems"]) == (True, 0, [])
    assert result["received"] == CALLBACKS
    if run.name != "database_restart":  # whatever happens to Redis, workers or the receiver: M-Pesa gets 200s
        assert run.pusher.answers == {200: CALLBACKS}
    duplicates = run.receiver.duplicates()
    report = {
        "scenario": run.name,
        "callbacks": CALLBACKS,
        "duplicates": duplicates,
        "duplicate_rate": round(duplicates / CALLBACKS, 4),
        "recovery_seconds": round(max(0.0, last_arrival - run.fault_ended), 1),
        "median_wait_seconds": round(waits[len(waits) // 2], 2),
        "max_wait_seconds": round(waits[-1], 1),
        "total_seconds": round(last_arrival - run.pusher.started_at, 1),
        "inbound_answers": {str(k): v for k, v in sorted(run.pusher.answers.items(), key=str)},
        "seed": SEED,
    }
    with capsys.disabled():
        print(f"\n[faults] {json.dumps(report)}")
    if os.environ.get("FAULTS_REPORT"):
        with open(os.environ["FAULTS_REPORT"], "a") as out:
            out.write(json.dumps(report) + "\n")
    return report


def pause(seconds: float) -> None:
    """The fault's own timing (how long Redis stays down...), never a wait for an outcome."""
    time.sleep(seconds)


def test_workers_sigkilled_at_random_moments(template, fault_receiver, capsys):
    rng = random.Random(SEED)
    with scenario(template, fault_receiver, "worker_kills", delay=(0.0, 0.1)) as run:
        run.pusher.start(CALLBACKS, per_second=40)
        for _ in range(4):
            pause(rng.uniform(0.8, 1.6))
            run.stack.kill_a_worker(rng)
        run.fault_ended = time.monotonic()
        settle_and_report(run, capsys)


def test_redis_crashes_and_restarts_from_its_append_only_file(template, fault_receiver, capsys):
    with scenario(template, fault_receiver, "redis_restart", delay=(0.0, 0.02)) as run:
        run.pusher.start(CALLBACKS, per_second=40)
        pause(2.5)
        run.stack.redis.crash()
        pause(1.5)
        run.stack.redis.start()
        run.fault_ended = time.monotonic()
        settle_and_report(run, capsys)
        assert all(worker.alive() for worker in run.stack.first_workers), "a worker did not survive Redis"


def test_redis_flushed_mid_run_loses_every_job_and_nothing_else(template, fault_receiver, capsys):
    with scenario(template, fault_receiver, "redis_flushall", fail_ratio=0.3, delay=(0.0, 0.02)) as run:
        run.pusher.start(CALLBACKS, per_second=40)
        pause(3.0)
        run.stack.redis.client().flushall()
        run.fault_ended = time.monotonic()
        settle_and_report(run, capsys)
        assert all(worker.alive() for worker in run.stack.first_workers)


def test_redis_down_while_callbacks_arrive(template, fault_receiver, capsys):
    with scenario(template, fault_receiver, "redis_down_at_ingest") as run:
        run.stack.redis.stop()
        run.pusher.start(CALLBACKS, per_second=50)
        run.pusher.wait()
        run.stack.redis.start()
        run.fault_ended = time.monotonic()
        settle_and_report(run, capsys)
        assert all(worker.alive() for worker in run.stack.first_workers)


def test_receiver_fails_half_the_requests_then_recovers(template, fault_receiver, capsys):
    with scenario(template, fault_receiver, "receiver_fails_half", fail_ratio=0.5) as run:
        run.pusher.start(CALLBACKS, per_second=40)
        run.pusher.wait()
        pause(2.0)
        run.receiver.fail(0.0)
        run.fault_ended = time.monotonic()
        settle_and_report(run, capsys)


if postgres_server_url():
    # Only when the suite runs on PostgreSQL (SQLite has no server to restart). The server restarted is a
    # private cluster of the suite's own, so that nobody else's database goes down.

    def test_database_crashes_and_restarts_mid_run(
        private_template, private_postgres, fault_receiver, capsys
    ):
        with scenario(private_template, fault_receiver, "database_restart", delay=(0.0, 0.02)) as run:
            run.pusher.start(CALLBACKS, per_second=40)
            pause(2.5)
            private_postgres.stop("immediate")
            pause(1.5)
            private_postgres.start()
            run.fault_ended = time.monotonic()
            report = settle_and_report(run, capsys)
            assert "503" in report["inbound_answers"], "M-Pesa must see failures while the database is down"
            assert all(worker.alive() for worker in run.stack.first_workers)
