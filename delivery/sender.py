"""The engine's HTTP sender: every delivery a worker has in flight, on one event loop (aiohttp).

Why an event loop: a thread per request in flight costs CPU and memory per
request (and a database connection each, if each thread also recorded), while
waiting on a socket costs an event loop nothing. aiohttp measured at
0.16-0.19 ms of CPU per POST here, requests at 0.51 plus a watchdog timer
(docs/performance.md). The worker's main thread claims and records; this
module's thread only sends, so no database work ever runs on the loop.

The rules of ``delivery.transport`` hold here too:

* the connection goes to the address that was checked (``Pin``), never to
  a fresh DNS answer; TLS still verifies the certificate against the URL's
  host name;
* redirects are never followed; proxies and .netrc from the environment
  are ignored;
* one total deadline bounds connecting, waiting for the answer and reading
  it, so a receiver that trickles bytes is cut off;
* at most ``max_response_bytes`` of a response are read; the rest is
  dropped with the connection.

Sends never raise: every outcome is a ``TransportResult``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver
from django.conf import settings

from daraja.core.runtime import PerProcess
from delivery.transport import TransportResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendRequest:
    url: str
    body: bytes
    headers: dict[str, str]
    host: str  # the URL's host name …
    address: str  # … and the checked address the connection must go to
    connect_timeout: float
    total_timeout: float
    max_response_bytes: int


class _PinnedResolver(AbstractResolver):
    """Answers only with the address checked for a host; a host nobody checked is refused (fails closed)."""

    def __init__(self) -> None:
        self.pins: dict[str, str] = {}

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        address = self.pins.get(host)
        if address is None:
            raise OSError(errno.EACCES, f"no checked address for {host}: refusing to resolve it here")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": family,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


class Sender:
    """An event loop on a daemon thread with one aiohttp session (its connection pool) for the process."""

    def __init__(self, *, max_connections: int) -> None:
        self._resolver = _PinnedResolver()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self._run, name="delivery-sender", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._session is None:
            raise RuntimeError("the delivery sender's event loop did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._open())
        finally:
            self._ready.set()
        self._loop.run_forever()

    async def _open(self) -> None:
        # aiohttp binds its session to the running loop: it is made on the loop's own thread.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=self._resolver,
                limit=self._max_connections,
                limit_per_host=0,
                use_dns_cache=False,
                keepalive_timeout=30,
            ),
            trust_env=False,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )

    def submit(self, requests: Sequence[SendRequest]) -> list[concurrent.futures.Future]:
        """Start sending each request now; each future gets its ``TransportResult``."""
        futures = [concurrent.futures.Future() for _ in requests]

        def start() -> None:
            for request, future in zip(requests, futures, strict=True):
                # The address is pinned for the host while its check is fresh (see _PinnedResolver).
                self._resolver.pins[request.host] = request.address
                task = self._loop.create_task(self._post(request))
                task.add_done_callback(lambda done, future=future: future.set_result(done.result()))

        self._loop.call_soon_threadsafe(start)
        return futures

    def close(self, timeout: float = 5.0) -> None:
        """Close the session (its connections) and end the loop's thread; sends still running are dropped."""
        if not self._thread.is_alive():
            return
        closing = asyncio.run_coroutine_threadsafe(self._session.close(), self._loop)
        try:
            closing.result(timeout)
        except Exception:  # the loop ends all the same; its sockets close with it
            logger.warning("The delivery sender's session did not close cleanly", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    def send(self, request: SendRequest) -> TransportResult:
        """Send one request and wait for its result."""
        (future,) = self.submit([request])
        return future.result()

    async def _post(self, request: SendRequest) -> TransportResult:
        started = time.monotonic()

        def elapsed_ms() -> int:
            return int((time.monotonic() - started) * 1000)

        timeout = aiohttp.ClientTimeout(total=request.total_timeout, connect=request.connect_timeout)
        try:
            async with self._session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                body, read_error = await _read_capped(response, request.max_response_bytes)
                return TransportResult(
                    elapsed_ms(),
                    status_code=response.status,
                    body=body,
                    retry_after=response.headers.get("Retry-After"),
                    error_message=read_error,
                )
        except TimeoutError as exc:
            return TransportResult(
                elapsed_ms(), failure="timeout", error_message=_timeout_message(exc, request)
            )
        except aiohttp.ClientConnectorError as exc:
            return TransportResult(elapsed_ms(), failure="network", error_message=_connect_message(exc))
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            return TransportResult(elapsed_ms(), failure="network", error_message=_describe(exc))
        except aiohttp.ClientResponseError as exc:
            return TransportResult(elapsed_ms(), failure="invalid_response", error_message=_describe(exc))
        except aiohttp.ClientError as exc:
            return TransportResult(elapsed_ms(), failure="invalid_response", error_message=_describe(exc))
        except Exception as exc:  # a send must never take the loop down: anything else is a failed attempt
            logger.exception("Unexpected error sending to %s", request.host)
            return TransportResult(elapsed_ms(), failure="network", error_message=_describe(exc))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, str]:
    """Up to ``limit`` bytes of the body; a longer body is cut and its connection closed, not reused.

    A body that fails to read, or is cut at the deadline, leaves the status
    line as the answer and says so in the error message.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = await response.content.read(limit - size)
            if not chunk:
                return b"".join(chunks), ""
            chunks.append(chunk)
            size += len(chunk)
        if response.content.at_eof():
            return b"".join(chunks), ""
        response.close()  # the rest is dropped with the connection, never buffered
        return b"".join(chunks), ""
    except TimeoutError:
        response.close()
        return b"".join(chunks), "response body cut off at the delivery deadline"
    except (aiohttp.ClientError, OSError) as exc:
        response.close()
        return b"".join(chunks), f"response body unreadable: {_describe(exc)}"


def _timeout_message(exc: BaseException, request: SendRequest) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"no connection to {request.host} within {request.connect_timeout:g} s"
    return f"no complete answer within the {request.total_timeout:g} s deadline"


def _connect_message(exc: aiohttp.ClientConnectorError) -> str:
    """ "connection to host:port failed: Connection refused" instead of aiohttp's wrapped repr.

    asyncio reports a refused connection as "Connect call failed (…)": the errno's own words say it.
    """
    error = exc.os_error
    if error is not None and error.errno and (not error.strerror or error.errno == errno.ECONNREFUSED):
        reason = os.strerror(error.errno)
    else:
        reason = (error.strerror if error is not None else None) or str(error or exc)
    return f"connection to {exc.host}:{exc.port} failed: {reason}"[:500]


def _describe(exc: BaseException) -> str:
    message = str(exc) or exc.__class__.__name__
    return message[:500]


def _sender_build() -> Sender:
    return Sender(max_connections=settings.DELIVERY_WORKER_CONCURRENCY)


_process_sender: PerProcess[Sender] = PerProcess(
    "delivery sender",
    _sender_build,
    rebuilt_when=("DELIVERY_WORKER_CONCURRENCY",),
    close=lambda sender: sender.close(),
)


def process_sender() -> Sender:
    """This process's sender, at most ``DELIVERY_WORKER_CONCURRENCY`` connections (made on first use)."""
    return _process_sender.get()
