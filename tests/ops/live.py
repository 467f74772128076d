"""A live relay for the ops tests: real gunicorn and RQ worker processes on a temporary SQLite file.

Everything is a real subprocess started from the repository (``manage.py``,
``python -m gunicorn -c deploy/gunicorn.conf.py``), against the test suite's
Redis server (in a database number of its own, so the suite's per-test
``FLUSHDB`` does not touch it) and a real HTTP receiver in the test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]


def separate_redis_database(url: str) -> str:
    """The same Redis server as ``url``, the next database number down (up from 0).

    CI's ``TEST_REDIS_URL`` is database 15 of the machine's Redis: the live
    relay then uses 14, never 0, which a developer's own runs may be using.
    """
    base, _, db = url.rpartition("/")
    number = int(db or 0)
    return f"{base}/{number - 1 if number else 1}"


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """``{(sample name, labels): value}`` of a Prometheus text exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, frozenset(labels.items()))]


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class LiveRelay:
    """A temporary relay: SQLite file, static root and log files in a temp dir; processes on loopback."""

    def __init__(self, redis_url: str, **extra_env: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="daraja-live-")
        self.path = Path(self.dir.name)
        self.redis_url = redis_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "METRICS_", "LOG_", "REDIS_", "DATABASE_"))
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "daraja.settings",
                "DATABASE_URL": f"sqlite:///{self.path / 'db.sqlite3'}",
                "DARAJA_VAR_DIR": str(self.path / "var"),
                "DJANGO_STATIC_ROOT": str(self.path / "static"),
                "REDIS_URL": redis_url,
                "DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8",
                "METRICS_SETTLE_SECONDS": "0",
                "PYTHONUNBUFFERED": "1",
                **extra_env,
            }
        )
        Redis.from_url(redis_url).flushdb()

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` to completion; returns its stdout (fails the test on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *command: str) -> None:
        with open(self.path / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, *command],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_web(self, *, workers: int) -> None:
        self.start(
            "web",
            "-m",
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
        )
        wait_for(lambda: self._health_answers(), timeout=30, what="gunicorn to answer /health")

    def start_worker(self) -> None:
        self.start("worker", "manage.py", "rqworker", "urgent", "high", "normal", "low", "--with-scheduler")

    def _health_answers(self) -> bool:
        self.assert_running()
        try:
            return self.request("GET", "/health")[0] == 200
        except OSError:
            return False

    def assert_running(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}:\n{self.log(name)}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.base_url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def post_json(self, path: str, body: bytes, **headers: str) -> int:
        return self.request("POST", path, body, {"Content-Type": "application/json", **headers})[0]

    def scrape(self) -> str:
        status, _, body = self.request("GET", "/metrics")
        assert status == 200, body
        return body.decode()

    def log(self, name: str) -> str:
        path = self.path / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def json_lines(self, name: str) -> list[dict]:
        """Every line the process wrote, each parsed as one JSON object (fails on any other line)."""
        lines = []
        for line in self.log(name).splitlines():
            if line.strip():
                parsed = json.loads(line)
                assert isinstance(parsed, dict), line
                lines.append(parsed)
        return lines

    def stop(self) -> None:
        # SIGTERM: gunicorn and RQ shut down gracefully (the job in flight finishes).
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        Redis.from_url(self.redis_url).flushdb()
        self.dir.cleanup()
