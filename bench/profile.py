"""``python -m bench.profile``: where a web request's and a delivery job's time goes.

Starts Redis, a throwaway database and the recording receiver (as the
harness does, ``DATABASE_URL`` choosing Postgres), then in this process:

1. ``--requests`` inbound callbacks through Django's WSGI application (what
   gunicorn calls, middleware included), after a warm-up, under pyinstrument;
2. the jobs those callbacks queued, run by a ``DeliveryWorker`` in burst
   mode (RQ's bookkeeping included) against the receiver, under pyinstrument.

The callbacks wake the worker with drain jobs; a drain claims, sends and
records in batches on the worker's main thread, where the profiler sees it
(the HTTP sends run on the sender's event loop thread, which it does not).

For each: wall and CPU ms per item, SQL queries and Redis commands per
item, self time grouped by package, and the call tree, written to
``var/bench/profile-{web,job}.txt`` (and ``.html``).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections import Counter

from redis import Redis

from bench.load import StkBodies
from bench.measure import load_average, redis_command_count
from bench.stack import REPO, Stack, WebSettings

OUT = REPO / "var" / "bench"

# (substring of a file path, group): the first match names a frame's self time.
GROUPS = [
    ("/rq/", "RQ (queue and worker bookkeeping)"),
    ("/redis/", "redis-py client (Redis round trips)"),
    ("/django/db/", "Django ORM (queries, transactions)"),
    ("/psycopg", "database driver"),
    ("sqlite3", "database driver"),
    ("/rest_framework/", "DRF"),
    ("/django/", "Django (handler, middleware, signals, other)"),
    ("/requests/", "HTTP client (requests/urllib3)"),
    ("/urllib3/", "HTTP client (requests/urllib3)"),
    ("http/client", "HTTP client (requests/urllib3)"),
    ("/standardwebhooks/", "signing (standardwebhooks, hmac)"),
    ("/hmac", "signing (standardwebhooks, hmac)"),
    ("/logging/", "logging"),
    ("/daraja/logging", "logging"),
    ("/json/", "json"),
    ("/webhooks/", "relay code (webhooks, delivery, daraja)"),
    ("/delivery/", "relay code (webhooks, delivery, daraja)"),
    ("/daraja/", "relay code (webhooks, delivery, daraja)"),
    ("/deadletter/", "relay code (webhooks, delivery, daraja)"),
]


def self_time_by_group(root) -> dict[str, float]:
    """Self time (s) of every frame in a pyinstrument tree, grouped by where its code lives.

    Built-ins (a socket read, ``time.sleep``) and pyinstrument's ``[self]``
    leaves count for the nearest caller with a source file: waiting for a
    Redis reply is redis-py's time, waiting for the receiver is the HTTP client's.
    """
    other = "other (stdlib, sockets, …)"
    totals: Counter = Counter()
    stack = [(root, other)]
    while stack:
        frame, inherited = stack.pop()
        path = (frame.file_path or "").replace("\\", "/")
        group = inherited
        if path.startswith("/"):
            group = next((name for needle, name in GROUPS if needle in path), other)
        children = frame.children
        totals[group] += frame.time - sum(child.time for child in children)
        stack.extend((child, group) for child in children)
    return dict(totals.most_common())


def profiled(label: str, count: int, work) -> dict:
    """Time ``work()`` plain (wall, CPU, Redis commands), then profile the same amount of work again
    under pyinstrument, counting SQL statements; write the call tree and return the figures."""
    from django.db import connection
    from pyinstrument import Profiler

    redis = Redis.from_url(_settings().REDIS_URL)
    commands_before = redis_command_count(redis)
    wall, cpu = time.perf_counter(), time.process_time()
    work(f"{label}1")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    commands = redis_command_count(redis) - commands_before - 1  # the INFO call itself
    profiler = Profiler(interval=0.0005)
    queries = 0

    def count_statement(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_statement):
        profiler.start()
        work(f"{label}2")
        profiler.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"profile-{label}.txt").write_text(profiler.output_text(unicode=True, color=False))
    (OUT / f"profile-{label}.html").write_text(profiler.output_html())
    groups = self_time_by_group(profiler.last_session.root_frame())
    total = sum(groups.values()) or 1.0
    return {
        "items": count,
        "wall_ms_per_item": round(wall * 1000 / count, 2),
        "cpu_ms_per_item": round(cpu * 1000 / count, 2),
        "sql_statements_per_item": round(queries / count, 2),  # BEGIN/COMMIT not counted
        "redis_commands_per_item": round(commands / count, 2),
        "self_time_share_percent": {name: round(100 * t / total, 1) for name, t in groups.items()},
    }


def _settings():
    from django.conf import settings

    return settings


def wsgi_post(application, path: str, body: bytes) -> int:
    """One POST through the WSGI application, as gunicorn makes it; returns the status code."""
    status: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    response = application(environ, lambda s, headers, exc_info=None: status.append(s))
    for _chunk in response:
        pass
    response.close()
    return int(status[0].split()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help="callbacks (and so delivery jobs) profiled"
    )
    parser.add_argument("--warmup", type=int, default=100)
    options = parser.parse_args(argv)
    import os

    stack = Stack(web=WebSettings(0, 0), database_url=os.environ.get("DATABASE_URL"))
    # A wake-up after every commit: each profiled callback's drain runs on this thread, which
    # pyinstrument sees (the sends themselves run on the sender's event loop thread).
    stack.base_env["DELIVERY_WAKE_WINDOW_MS"] = "0"
    try:
        stack.start(web=False)
        from daraja.wsgi import application  # what gunicorn calls (the inbound door's own middleware)
        from delivery.queues import delivery_queues, redis_connection
        from delivery.worker import DeliveryWorker

        inbound = stack.add_endpoint("profile", "/profile/hook", "--timeout", "30")
        path = inbound.removeprefix(stack.web_base)
        bodies = StkBodies()

        def post_many(tag: str, n: int) -> None:
            for i in range(n):
                assert wsgi_post(application, path, bodies.body(tag, i)) == 200

        def drain(_tag: str = "") -> None:
            name = f"profile-{time.time_ns()}"
            worker = DeliveryWorker(delivery_queues(), connection=redis_connection(), name=name)
            worker.work(burst=True, logging_level="WARNING")

        def drain_n(n: int) -> None:
            name = f"profile-{time.time_ns()}"
            worker = DeliveryWorker(delivery_queues(), connection=redis_connection(), name=name)
            worker.work(burst=True, max_jobs=n, logging_level="WARNING")

        post_many("warm", options.warmup)
        drain("warm")
        # Each pass of ``profiled`` posts (or delivers) ``--requests`` items: the job passes deliver the
        # callbacks the web passes queued, so post both web passes' worth before the first job pass.
        web = profiled("web", options.requests, lambda tag: post_many(tag, options.requests))
        job = profiled("job", options.requests, lambda tag: drain_n(options.requests))
        delivered = stack.receiver_count("/profile/")
        assert delivered == options.warmup + 2 * options.requests, f"{delivered} delivered"
    finally:
        stack.stop()
    report = {
        "database": stack.database.engine,
        "load_average": load_average(),
        "web_request": web,
        "delivery_job": job,
        "outputs": str(OUT),
    }
    import json

    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
