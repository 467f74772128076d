"""A fast recording receiver for the benchmark: ``python -m bench.receiver --port P``.

An aiohttp server (one process, one event loop) that answers every POST at
once with 200, or after a delay, or after hanging, as configured, and
records each request's arrival time (``time.monotonic()``, which on Linux
is one clock for every process, so the harness can subtract its own send
times), path, ``webhook-id``, ``X-Daraja-Correlation-Id`` and attempt
number. It never parses bodies: recording must cost next to nothing.

Control API (loopback only, used by the harness):

* ``POST /_control/config`` ``{"delay_ms": 100, "delay_prefix": "/slow/",
  "hang_seconds": 30, "hang_prefix": "/fair/e03/"}``: requests whose path
  starts with a prefix wait that long before answering (``null`` prefix: none).
* ``GET /_control/count?prefix=/e2e/``: ``{"count": n}`` requests recorded under the prefix.
* ``GET /_control/records?prefix=/e2e/``: ``{"records": [[t, path, webhook_id, correlation_id,
  attempt], ...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web

_OK = b'{"ok": true}'


class Recorder:
    def __init__(self) -> None:
        self.records: list[tuple[float, str, str, str, str]] = []
        self.delay_seconds = 0.0
        self.delay_prefix: str | None = None
        self.hang_seconds = 0.0
        self.hang_prefix: str | None = None

    async def hook(self, request: web.Request) -> web.Response:
        headers = request.headers
        path = request.path
        self.records.append(
            (
                time.monotonic(),
                path,
                headers.get("webhook-id", ""),
                headers.get("X-Daraja-Correlation-Id", ""),
                headers.get("X-Daraja-Attempt", ""),
            )
        )
        await request.read()  # drain the body so the connection can be reused
        if self.hang_prefix is not None and path.startswith(self.hang_prefix):
            await asyncio.sleep(self.hang_seconds)
        elif self.delay_prefix is not None and path.startswith(self.delay_prefix):
            await asyncio.sleep(self.delay_seconds)
        return web.Response(body=_OK, content_type="application/json")

    async def config(self, request: web.Request) -> web.Response:
        settings = await request.json()
        self.delay_seconds = float(settings.get("delay_ms", 0)) / 1000
        self.delay_prefix = settings.get("delay_prefix")
        self.hang_seconds = float(settings.get("hang_seconds", 0))
        self.hang_prefix = settings.get("hang_prefix")
        return web.json_response({"ok": True})

    def _matching(self, request: web.Request) -> list:
        prefix = request.query.get("prefix", "")
        return [r for r in self.records if r[1].startswith(prefix)]

    async def count(self, request: web.Request) -> web.Response:
        return web.json_response({"count": len(self._matching(request))})

    async def dump(self, request: web.Request) -> web.Response:
        return web.json_response({"records": self._matching(request)})


def make_app() -> web.Application:
    recorder = Recorder()
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app.router.add_post("/_control/config", recorder.config)
    app.router.add_get("/_control/count", recorder.count)
    app.router.add_get("/_control/records", recorder.dump)
    app.router.add_post("/{tail:.*}", recorder.hook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
