"""The load generator: realistic STK callbacks over C keep-alive connections (asyncio + aiohttp).

A burst sends N requests as fast as C concurrent connections allow; a
steady run spaces them at a fixed rate. Each request's send time (keyed
by its CheckoutRequestID, which the relay forwards as
``X-Daraja-Correlation-Id``), ack latency and status are kept, so the
receiver's arrival times give end-to-end latency.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

_PAYLOAD = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "webhooks"
    / "mpesa"
    / "payloads"
    / "stk_callback_success.json"
)
_HEADERS = {"Content-Type": "application/json", "User-Agent": "daraja-bench/1.0"}


class StkBodies:
    """Bodies of the documented STK success callback with ids unique per run, scenario and index.

    The relay de-duplicates repeats of a CheckoutRequestID, so each body
    carries its own (and its own MerchantRequestID and receipt number).
    """

    def __init__(self) -> None:
        self.template = json.dumps(json.loads(_PAYLOAD.read_text()))
        for placeholder in ("ws_CO_191220191020363925", "29115-34620561-1", "NLJ7RT61SV"):
            assert placeholder in self.template, placeholder

    @staticmethod
    def correlation_id(tag: str, index: int) -> str:
        return f"ws_CO_{tag}_{index:07d}"

    def body(self, tag: str, index: int) -> bytes:
        return (
            self.template.replace("ws_CO_191220191020363925", self.correlation_id(tag, index))
            .replace("29115-34620561-1", f"{tag}-{index}")
            .replace("NLJ7RT61SV", f"B{index:09d}")
            .encode()
        )


@dataclass
class LoadResult:
    requested: int
    started: float = 0.0
    finished: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, 2xx only
    sent_at: dict[str, float] = field(default_factory=dict)  # correlation id -> monotonic send time
    target_of: dict[str, int] = field(default_factory=dict)  # correlation id -> index into targets

    @property
    def acked(self) -> int:
        return sum(n for status, n in self.statuses.items() if isinstance(status, int) and status < 300)

    @property
    def seconds(self) -> float:
        return max(self.finished - self.started, 1e-9)


async def post_callbacks(
    targets: list[str],
    *,
    n: int,
    concurrency: int,
    tag: str,
    rate: float | None = None,
    deadline_seconds: float = 600.0,
    bodies: StkBodies | None = None,
) -> LoadResult:
    """POST ``n`` callbacks, spread round-robin over the ``targets`` URLs, over ``concurrency`` connections.

    ``rate`` (requests per second) spaces them evenly; without it they go as
    fast as the server answers. Stops early (the rest counted as
    ``"not_sent"``) when ``deadline_seconds`` pass.
    """
    bodies = bodies or StkBodies()
    result = LoadResult(requested=n)
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=_HEADERS) as session:
        result.started = time.monotonic()
        stop_at = result.started + deadline_seconds

        async def lane() -> None:
            nonlocal next_index
            while next_index < n:
                index = next_index
                next_index += 1
                if rate:
                    wait = result.started + index / rate - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                now = time.monotonic()
                if now > stop_at:
                    result.statuses["not_sent"] += 1
                    continue
                target = index % len(targets)
                correlation_id = bodies.correlation_id(tag, index)
                body = bodies.body(tag, index)
                try:
                    async with session.post(targets[target], data=body) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.statuses[f"error:{type(exc).__name__}"] += 1
                    continue
                done = time.monotonic()
                result.statuses[status] += 1
                if status < 300:
                    result.latencies.append(done - now)
                    result.sent_at[correlation_id] = now
                    result.target_of[correlation_id] = target

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        result.finished = time.monotonic()
    return result


async def get_many(url: str, *, n: int, concurrency: int) -> LoadResult:
    """GET ``url`` ``n`` times over ``concurrency`` keep-alive connections (the empty-view floor)."""
    result = LoadResult(requested=n)
    remaining = n
    connector = aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        result.started = time.monotonic()

        async def lane() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                sent = time.monotonic()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        result.statuses[response.status] += 1
                        result.latencies.append(time.monotonic() - sent)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.statuses[f"error:{type(exc).__name__}"] += 1

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        result.finished = time.monotonic()
    return result
