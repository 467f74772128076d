"""``make run`` (``manage.py runrelay``) and ``make manage``: commands from a second terminal reach the
relay that ``make run`` started (its embedded Redis, its database), and every start says who logs in.

The relay runs for real: its own Redis on a free port, gunicorn, an RQ worker, a SQLite file and
static files in a temporary folder. ``make manage`` runs through the Makefile (without its install
step: the suite's interpreter stands in for the virtualenv's).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from daraja.management.commands.runrelay import Command
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
# What would point the relay or a command at the suite's Redis or database instead of the relay's own.
NOT_INHERITED = ("REDIS_URL", "REDIS_HOST", "DATABASE_URL", "TEST_REDIS_URL", "DARAJA_RELAY_ENV")
BODY = (
    b'{"Body":{"stkCallback":{"MerchantRequestID":"m-1","CheckoutRequestID":"%s",'
    b'"ResultCode":0,"ResultDesc":"ok"}}}'
)


class Relay:
    """``manage.py runrelay`` in the background, its output collected line by line."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.redis_port = free_port(), free_port()
        self.var = tmp_path / "var"
        self.env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        self.env.update(
            DARAJA_VAR_DIR=str(self.var),
            DJANGO_STATIC_ROOT=str(tmp_path / "static"),
            # Deliveries held here must be woken by the command under test, not by the sweep.
            SWEEP_GRACE_SECONDS="600",
        )
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runrelay",
                *("--port", str(self.port), "--redis-port", str(self.redis_port), "--web-workers", "1"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_running(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops everything." not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, f"runrelay did not start in {timeout} s:\n{self.output}"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """``make manage ARGS="..."`` as a person types it in a second terminal."""
        return subprocess.run(
            ["make", "-s", "manage", "RUN_STAMP=", f"PY={sys.executable}", f"ARGS={' '.join(args)}"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def get_json(self, path: str, key: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Authorization": f"Bearer {key}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def post(self, path: str, body: bytes) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status


@pytest.fixture
def relay(tmp_path):
    started = Relay(tmp_path)
    yield started
    started.stop()


def test_make_manage_acts_on_the_relay_make_run_started(relay):
    relay.wait_until_running()
    # the first start makes the admin user and says so, with its password and how to reset it
    assert "user admin, password " in relay.output
    assert 'make manage ARGS="changepassword admin"' in relay.output
    # its settings for management commands, readable by the owner alone, and its own control socket
    relay_env = relay.var / "relay.env"
    assert stat.S_IMODE(relay_env.stat().st_mode) == 0o600
    assert f"REDIS_URL='redis://127.0.0.1:{relay.redis_port}/0'" in relay_env.read_text()
    assert stat.S_ISSOCK((relay.var / "gunicorn.ctl").stat().st_mode)

    # when a merchant app on this machine is registered from a second terminal (loopback is allowed
    # there as in the relay), paused
    receiver = f"http://127.0.0.1:{relay.port}/demo/receiver/shop42"
    added = relay.manage("add_endpoint", "shop42", "--url", receiver, "--paused")
    assert added.returncode == 0, added.stderr
    inbound_path = json.loads(added.stdout)["inbound_path"]
    # and two callbacks arrive and wait, held
    for checkout in ("c-1", "c-2"):
        assert relay.post(inbound_path, BODY % checkout.encode()) == 200
    # and the endpoint is resumed from the second terminal: the wake-up must reach the relay's Redis
    resumed = relay.manage("add_endpoint", "shop42", "--active")
    assert resumed.returncode == 0, resumed.stderr
    # and an API key made there works against the relay (the same database)
    made = relay.manage("create_api_key", "shop42-scripts", "--user-id", "shop42")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]

    # then the relay's worker delivers both, well before any sweep could have
    deadline = time.monotonic() + 30
    while True:
        callbacks = relay.get_json("/api/v1/callbacks/", key)["results"]
        statuses = sorted(callback["delivery"]["status"] for callback in callbacks)
        if statuses == ["delivered", "delivered"]:
            break
        assert time.monotonic() < deadline, f"not delivered: {statuses}\n{relay.output}\n{resumed.stderr}"
        time.sleep(0.3)

    # and stopping the relay takes its settings file away: no command is pointed at a Redis that is gone
    assert relay.stop() == 0
    assert not relay_env.exists()
    after = relay.manage("check")
    assert after.returncode == 0, after.stderr
    assert "no relay running" in after.stderr


@pytest.mark.django_db
def test_every_start_names_the_admin_users_and_how_to_reset_a_password(django_user_model):
    # the first start creates admin and shows its password once
    first = Command()._admin_login()
    assert first.startswith("user admin, password ")
    # a later start names the superusers there are, and the command that sets a new password
    django_user_model.objects.create_superuser("ops", "ops@localhost", "pw")
    later = Command()._admin_login()
    assert later.startswith("user admin or user ops;")
    assert 'make manage ARGS="changepassword admin"' in later
    assert "password " not in later.split(";")[0]
