"""Container health checks: ``python deploy/healthcheck.py web`` or ``python deploy/healthcheck.py worker``.

* ``web``: ``GET /health`` on this container's gunicorn answers 200.
* ``worker``: an RQ worker started on this host (the container's hostname) is registered in Redis,
  i.e. it started and its heartbeat has not expired.

Exit status 0 when healthy, 1 otherwise, with the reason on stderr.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from pathlib import Path


def web() -> str | None:
    port = os.environ.get("WEBHOOK_SERVICE_PORT", "3001")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            return None if response.status == 200 else f"/health answered {response.status}"
    except OSError as exc:
        return f"/health did not answer: {exc}"


def worker() -> str | None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daraja.settings")
    import django

    django.setup()
    from redis.exceptions import RedisError
    from rq import Worker

    from delivery.queues import redis_connection

    hostname = socket.gethostname()
    try:
        workers = Worker.all(connection=redis_connection())
    except RedisError as exc:
        return f"Redis unavailable: {exc}"
    if any(found.hostname == hostname for found in workers):
        return None
    return f"no RQ worker of host {hostname} is registered"


CHECKS = {"web": web, "worker": worker}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(CHECKS)}")
    problem = CHECKS[sys.argv[1]]()
    if problem:
        sys.exit(problem)
