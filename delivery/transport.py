"""The HTTP transport: POST bytes to a URL, at a given address, and report what happened.

Knows nothing of models or retry policy. One ``requests.Session`` per
thread (so a worker reuses connections to the same receiver); redirects are
never followed; TLS is verified; at most ``max_response_bytes`` of a
response are read and the rest is dropped; the whole exchange is bounded by
a total deadline, so a receiver that trickles bytes forever is cut off.

Connections go to the ``address`` the caller checked, never to a fresh DNS
answer (``delivery.destinations``): the socket is opened to that address
while TLS still verifies the certificate against the URL's host name.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from dataclasses import dataclass, field

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from daraja.core.runtime import PerProcess

# Each thread's session, per process: a forked child must not reuse its parent's pooled sockets.
_thread_sessions: PerProcess[threading.local] = PerProcess("transport sessions", threading.local)
# host → the address checked for it, for the request being sent on this thread.
_pinned: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "pinned_addresses", default=None
)
# The sockets the request being sent on this thread uses, for the deadline watchdog to cut.
_watched: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar("watched_sockets", default=None)
_CHUNK = 16 * 1024


@dataclass
class _Watch:
    sockets: list = field(default_factory=list)
    fired: bool = False


class _PinnedConnectionMixin:
    """Open the socket to the checked address instead of resolving the host again. Fails closed.

    Every request also hands its socket (new or reused) to the deadline watchdog.
    """

    def request(self, *args, **kwargs):
        result = super().request(*args, **kwargs)
        watched = _watched.get()
        if watched is not None and self.sock is not None:
            watched.sockets.append(self.sock)
        return result

    def _new_conn(self) -> socket.socket:
        address = (_pinned.get() or {}).get(self.host)
        if address is None:
            raise NewConnectionError(self, f"no checked address for {self.host}: refusing to resolve it here")
        try:
            return urllib3_connection.create_connection(
                (address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


@dataclass(frozen=True)
class TransportResult:
    """The outcome of one POST.

    ``status_code`` is set when the receiver answered (its status line is what
    counts; a body that fails to read or is cut at the deadline only leaves
    ``error_message``); otherwise ``failure`` says why not: ``"timeout"``,
    ``"network"`` or ``"invalid_response"``.
    """

    duration_ms: int
    status_code: int | None = None
    body: bytes = b""
    retry_after: str | None = None
    failure: str | None = None
    error_message: str = ""


def _session() -> requests.Session:
    local = _thread_sessions.get()
    session = getattr(local, "session", None)
    if session is None:
        session = requests.Session()
        # No automatic retries: every try is an attempt we record ourselves.
        session.mount("http://", _PinnedAdapter(max_retries=0))
        session.mount("https://", _PinnedAdapter(max_retries=0))
        # Proxies and .netrc from the environment have no business in deliveries.
        session.trust_env = False
        session.verify = True
        local.session = session
    return session


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    host: str,
    address: str,
    connect_timeout: float,
    total_timeout: float,
    max_response_bytes: int,
) -> TransportResult:
    """POST ``body`` to ``url``, connecting to ``address`` for ``host``; never raises for network trouble.

    ``total_timeout`` bounds everything: connecting, waiting for the status
    line and reading the (capped) body.
    """
    started = time.monotonic()
    deadline = started + total_timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    watch = _Watch()
    pinned, watched = _pinned.set({host: address}), _watched.set(watch)
    # urllib3's timeouts bound each socket read, not the exchange: a receiver trickling its
    # status line a byte at a time would never trip them. The watchdog cuts the socket at the deadline.
    watchdog = threading.Timer(total_timeout, _cut, args=(watch,))
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            response = _session().post(
                url,
                data=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=connect_timeout, read=total_timeout, total=total_timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            return TransportResult(
                elapsed_ms(), failure=_failure_kind(exc, deadline), error_message=_describe(exc)
            )
        if watch.fired:
            # Cut while the status line and headers were still trickling in: what parsed is no answer.
            response.close()
            message = "no complete response head within the total deadline"
            return TransportResult(elapsed_ms(), failure="timeout", error_message=message)
        content, read_error = _read_capped(response, max_response_bytes, deadline)
    finally:
        watchdog.cancel()
        _pinned.reset(pinned)
        _watched.reset(watched)
    return TransportResult(
        elapsed_ms(),
        status_code=response.status_code,
        body=content,
        retry_after=response.headers.get("Retry-After"),
        error_message=read_error,
    )


def _failure_kind(exc: requests.RequestException, deadline: float) -> str:
    if isinstance(exc, requests.Timeout) or time.monotonic() >= deadline - 0.05:
        return "timeout"  # a timeout, or the watchdog cutting the socket at the deadline
    if isinstance(exc, requests.ConnectionError | requests.TooManyRedirects):
        return "network"
    return "invalid_response"


def _cut(watch: _Watch) -> None:
    watch.fired = True
    for sock in watch.sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _read_capped(response: requests.Response, limit: int, deadline: float) -> tuple[bytes, str]:
    """Up to ``limit`` bytes of the body, stopping at ``deadline``; the connection is closed after."""
    chunks: list[bytes] = []
    size, finished, error = 0, False, ""
    try:
        while size < limit:
            if time.monotonic() >= deadline:
                error = "response body cut off at the delivery deadline"
                break
            _shrink_socket_timeout(response, deadline)
            # read1 returns what has arrived instead of waiting for a full chunk: a trickle is noticed.
            chunk = response.raw.read1(min(_CHUNK, limit - size), decode_content=True)
            if not chunk:
                finished = True
                break
            chunks.append(chunk)
            size += len(chunk)
    except Exception as exc:  # urllib3 raises several types while reading a broken or slow body
        if time.monotonic() >= deadline - 0.05:
            error = "response body cut off at the delivery deadline"
        else:
            error = f"response body unreadable: {_describe(exc)}"
    if finished:
        response.raw.release_conn()  # read to the end: the connection can be reused
    else:
        response.close()  # whatever is left unread is dropped with the connection, never buffered
    return b"".join(chunks), error


def _shrink_socket_timeout(response: requests.Response, deadline: float) -> None:
    """Make the next socket read give up at the deadline, not a whole read timeout later."""
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))


def _describe(exc: BaseException) -> str:
    """A one-line error message without the noise requests wraps around the cause."""
    message = str(exc) or exc.__class__.__name__
    return message[:500]
