"""gunicorn settings for the relay: ``gunicorn -c deploy/gunicorn.conf.py``.

Command-line options override these. Environment:

* ``WEBHOOK_SERVICE_PORT`` (3001): the port, on every interface.
* ``WEB_CONCURRENCY`` (2): worker processes (gunicorn's own variable); about one per core.
* ``WEB_THREADS`` (8): threads per worker process (gthread). Callbacks that reach a process while
  another's transaction commits are stored together (webhooks.group_commit): threads are what lets
  that happen, and keep a core busy while requests wait on the database (docs/performance.md).
* ``DARAJA_VAR_DIR`` (``var/`` in the project): gunicorn's control socket (``gunicornc -s``) is
  ``gunicorn.ctl`` there, one per relay; gunicorn's default, ``~/.gunicorn/gunicorn.ctl``, is shared by
  every gunicorn the user runs, so two relays on one machine would clash.
* ``LOG_FORMAT`` (``human``|``json``) and ``LOG_LEVEL``: gunicorn's own lines (start-up, worker
  restarts, one access line per request) go through the relay's formatters, so they are JSON too
  when asked, carry the request id, and have inbound tokens, secrets and phone numbers cut.
"""

import os

# Importable because gunicorn puts its working directory, the project, on sys.path first.
from daraja.core.logging import logging_config

wsgi_app = "daraja.wsgi"
bind = [f"0.0.0.0:{os.environ.get('WEBHOOK_SERVICE_PORT', '3001')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
keepalive = 5  # M-Pesa and load balancers reuse connections
# A request (the synchronous C2B validation included, at most C2B_VALIDATION_BUDGET_SECONDS) ends well
# within this; a worker silent for longer is stuck and is replaced.
timeout = 30
graceful_timeout = 30
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's own advice
# One control socket per relay, beside its other local data (see above).
_project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
control_socket = os.path.join(os.environ.get("DARAJA_VAR_DIR", os.path.join(_project, "var")), "gunicorn.ctl")
# Client address, request line, status, size, time (µs), the serving process and the request id.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus pid=%(p)s rid=%({x-request-id}o)s'

# The relay's own logging (daraja.core.logging), with gunicorn's loggers on the same handler.
_log_format = os.environ.get("LOG_FORMAT", "human").lower()
_log_level = os.environ.get("LOG_LEVEL", "INFO").upper()
logconfig_dict = logging_config(
    log_format="json" if _log_format == "json" else "human",
    level=_log_level,
    loggers={
        "gunicorn.error": {"level": _log_level, "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
)
