"""The HTTP transport: POST bytes to a URL and report what happened.

Knows nothing of models or retry policy. One ``requests.Session`` per
thread (so a worker reuses connections to the same receiver); redirects are
never followed; at most ``max_response_bytes`` of a response are read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

_local = threading.local()


@dataclass(frozen=True)
class TransportResult:
    """The outcome of one POST.

    ``status_code`` is set when the receiver answered (its status line is what
    counts; a body that fails to read only leaves ``error_message``); otherwise
    ``failure`` says why not: ``"timeout"``, ``"network"`` or ``"invalid_response"``.
    """

    duration_ms: int
    status_code: int | None = None
    body: bytes = b""
    retry_after: str | None = None
    failure: str | None = None
    error_message: str = ""


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # No automatic retries: every try is an attempt we record ourselves.
        session.mount("http://", HTTPAdapter(max_retries=0))
        session.mount("https://", HTTPAdapter(max_retries=0))
        # Proxies and .netrc from the environment have no business in deliveries.
        session.trust_env = False
        _local.session = session
    return session


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int,
) -> TransportResult:
    """POST ``body`` to ``url`` and return what happened; never raises for network trouble."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = _session().post(
            url,
            data=body,
            headers=headers,
            timeout=(connect_timeout, read_timeout),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as exc:
        return TransportResult(elapsed_ms(), failure="timeout", error_message=_describe(exc))
    except (requests.ConnectionError, requests.TooManyRedirects) as exc:
        return TransportResult(elapsed_ms(), failure="network", error_message=_describe(exc))
    except requests.RequestException as exc:
        return TransportResult(elapsed_ms(), failure="invalid_response", error_message=_describe(exc))

    read_error = ""
    with response:
        try:
            content = response.raw.read(max_response_bytes, decode_content=True) or b""
        except Exception as exc:  # urllib3 raises several types while reading a broken or slow body
            # The status line already arrived and is what counts; the body is only an excerpt.
            content, read_error = b"", f"response body unreadable: {_describe(exc)}"
    return TransportResult(
        elapsed_ms(),
        status_code=response.status_code,
        body=content,
        retry_after=response.headers.get("Retry-After"),
        error_message=read_error,
    )


def _describe(exc: BaseException) -> str:
    """A one-line error message without the noise requests wraps around the cause."""
    message = str(exc) or exc.__class__.__name__
    return message[:500]
