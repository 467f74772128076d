"""A whole relay on this machine: its own Redis and database, gunicorn and RQ workers, like production."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.faults.processes import Database, RedisServer, Service, manage, wait_for, web, worker
from tests.faults.traffic import Pusher
from tests.support import free_port

# Fast sweeps and short timeouts so that each scenario takes seconds; production keeps the defaults.
SUITE_SETTINGS = {
    "SWEEP_INTERVAL_SECONDS": "1",
    "SWEEP_GRACE_SECONDS": "2",
    "SWEEP_STUCK_MARGIN_SECONDS": "3",
    # A killed worker's claims come back 3 s after the endpoint's timeout, not a minute.
    "DELIVERY_LEASE_MARGIN_SECONDS": "3",
    "DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT": "1000",
    "CIRCUIT_COOLDOWN_SECONDS": "1",
    "CIRCUIT_MAX_COOLDOWN_SECONDS": "2",
    "REDIS_SOCKET_TIMEOUT": "2",
    "DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8",
    "DJANGO_SECRET_KEY": "fault-suite-not-secret",
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}
# Many fast retries, so a 50% failing receiver loses nothing to the dead-letter queue; payment rules
# spread the callbacks over the urgent (cancelled), high (large amounts) and normal queues.
ENDPOINT = "shop"
ENDPOINT_OPTIONS = ["--max-attempts", "30", "--initial-delay", "0.2", "--multiplier", "2", "--max-delay", "1"]
ENDPOINT_OPTIONS += ["--timeout", "2", "--payment-rules", "on", "--high-value-threshold", "100000"]
_INHERITED_OUT = ("DATABASE_URL", "REDIS_", "TEST_REDIS_URL", "DJANGO_", "SWEEP_", "DELIVERY_", "CIRCUIT_")


def postgres_server_url() -> str | None:
    """``FAULTS_DATABASE_URL``, else the suite's own ``DATABASE_URL``, when it is PostgreSQL."""
    url = os.environ.get("FAULTS_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def relay_env(*, database_url: str, redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_INHERITED_OUT)}
    env.update(SUITE_SETTINGS)
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, DARAJA_VAR_DIR=str(var_dir))
    env["DJANGO_SETTINGS_MODULE"] = "daraja.settings"
    env.update(extra)
    return env


@dataclass
class Template:
    """A migrated database with the ``shop`` endpoint delivering to the receiver; scenarios copy it."""

    database: Database
    inbound_path: str
    directory: Path


def make_template(directory: Path, database: Database, receiver_url: str, *options: str) -> Template:
    """Migrate ``database`` and add the ``shop`` endpoint (``ENDPOINT_OPTIONS``, then ``options``)."""
    env = relay_env(database_url=database.url, redis_url="redis://127.0.0.1:1/0", var_dir=directory / "var")
    migrated = manage(env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    created = manage(env, "add_endpoint", ENDPOINT, "--url", receiver_url, *ENDPOINT_OPTIONS, *options)
    assert created.returncode == 0, created.stdout + created.stderr
    return Template(database, json.loads(created.stdout)["inbound_path"], directory)


class Stack:
    """Redis, the database, gunicorn and ``workers`` RQ workers (``rqworker … --with-scheduler``)."""

    def __init__(self, template: Template, name: str, *, workers: int = 2, **settings: str) -> None:
        self.name = name
        self.directory = template.directory / name
        self.directory.mkdir()
        self.inbound_path = template.inbound_path
        self.database = template.database.copy(name=name, directory=self.directory)
        self.redis = RedisServer(self.directory / "redis")
        self.redis.start()
        self.env = relay_env(
            database_url=self.database.url,
            redis_url=self.redis.url,
            var_dir=self.directory / "var",
            **settings,
        )
        self._numbers = itertools.count(1)
        self.services: list[Service] = []
        self.port = free_port()
        self.web = web(self.env, self.directory, self.port)
        self.services.append(self.web)
        self.workers = [self.start_worker() for _ in range(workers)]
        self.first_workers = list(self.workers)
        # Listening, not only registered: a worker registers before it starts its scheduler and installs its
        # signal handlers, and a Redis stopped in between ends it (as RQ does; a supervisor would restart it).
        wait_for(lambda: self.listening_workers() >= workers, timeout=60, what=f"{workers} workers to listen")

    def start_worker(self) -> Service:
        started = worker(self.env, self.directory, f"worker-{next(self._numbers)}-{uuid.uuid4().hex[:6]}")
        self.services.append(started)
        return started

    def kill_a_worker(self, rng: random.Random) -> None:
        """SIGKILL a random worker (with its scheduler thread) and start a new one, as a supervisor does."""
        victim = rng.choice(self.workers)
        victim.kill()
        self.workers.remove(victim)
        self.workers.append(self.start_worker())

    def listening_workers(self) -> int:
        """Workers past their start-up: waiting for a job, or running one (RQ sets the state then)."""
        try:
            client = self.redis.client()
            states = [client.hget(key, "state") for key in client.smembers("rq:workers")]
        except Exception:
            return 0
        return sum(state in (b"idle", b"busy") for state in states)

    def pusher(self, prefix: str, seed: int) -> Pusher:
        return Pusher(port=self.port, path=self.inbound_path, prefix=prefix, seed=seed)

    def post(self, body: bytes) -> tuple[int, dict]:
        """POST one callback to the inbound door, as M-Pesa does; returns the status and the JSON answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", self.inbound_path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def reconcile(self, since: datetime) -> tuple[int, dict]:
        done = manage(self.env, "reconcile", "--json", "--since", since.isoformat())
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            raise AssertionError(f"reconcile printed no JSON: {done.stdout}{done.stderr}") from None

    def logs(self) -> str:
        return "\n".join(service.tail() for service in self.services)

    def close(self) -> None:
        for service in self.services:
            service.terminate(wait=15)
        self.redis.stop()
        self.database.drop()
