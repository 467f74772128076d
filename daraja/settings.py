"""Settings for the Daraja webhook relay.

Every knob is read from the environment here, once, with a default that
serves a local run; production differs only by environment. The full list
lives in docs/operations.md.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from daraja.core.logging import LOG_FORMATS, logging_config
from daraja.core.rq_settings import QueuesOnRedisUrl

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# The settings a running `make run` wrote (var/relay.env: its embedded Redis, the networks it lets
# deliveries reach), for `make manage`, which sets this: a management command then acts on that relay.
# Variables already in the environment win; a missing file (no relay running) changes nothing.
RELAY_ENV_FILE = env.str("DARAJA_RELAY_ENV", default="")
if RELAY_ENV_FILE:
    environ.Env.read_env(RELAY_ENV_FILE)

VAR_DIR = Path(env.str("DARAJA_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-local-development-key-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (docs/operations.md) ----------------------------------------------
# Off by default so that `make run`, the tests and a plain-http compose stack work; production behind
# TLS sets DJANGO_SECURE_SSL_REDIRECT=true (which also makes the cookies secure) and the HSTS variables,
# and `manage.py check --deploy` is then clean.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Health probes and Prometheus scrape over plain http inside the private network.
SECURE_REDIRECT_EXEMPT = [r"^health(/|$)", r"^metrics/?$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Only behind a proxy that sets X-Forwarded-Proto itself (dropping the client's): else anyone claims https.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = env.list("DJANGO_SILENCED_SYSTEM_CHECKS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "axes",
    "daraja.apps.DarajaConfig",
    "webhooks",
    "delivery",
    "deadletter",
]

MIDDLEWARE = [
    # First, so that every line a request causes (redirects and refusals included) carries its id.
    "daraja.core.request_context.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "daraja.urls"
WSGI_APPLICATION = "daraja.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite under var/ is the embedded default; production sets DATABASE_URL to Postgres.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A web process and a worker write to the same file: wait for the lock instead of failing.
    sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    sqlite_options["timeout"] = env.int("SQLITE_TIMEOUT", default=20)
    # Writers take the lock when their transaction begins, so two never deadlock upgrading a read lock
    # (SQLite answers that with an immediate "database is locked", whatever the timeout); WAL lets
    # readers go on while one writes. Web threads and workers write concurrently.
    sqlite_options["transaction_mode"] = "IMMEDIATE"
    sqlite_options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    # The tests' database is a file too: SQLite's shared in-memory database locks whole tables and
    # ignores the timeout, which no production run meets.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # Transactions take the write lock when they begin: a deferred one that read first and writes second
    # fails at once ("database is locked", no waiting) when another writer got there in between, which
    # under load turned M-Pesa callbacks into 503s (docs/reliability.md).
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ---------------------------------------------------------
# REDIS_URL wins; otherwise the URL is built from REDIS_HOST, REDIS_PORT, REDIS_DB and REDIS_PASSWORD, so a
# deployment that sets those separately needs no change.
_redis_password = env.str("REDIS_PASSWORD", default="")
REDIS_URL = env.str(
    "REDIS_URL",
    default="redis://{auth}{host}:{port}/{db}".format(
        auth=f":{_redis_password}@" if _redis_password else "",
        host=env.str("REDIS_HOST", default="127.0.0.1"),
        port=env.int("REDIS_PORT", default=6379),
        db=env.int("REDIS_DB", default=0),
    ),
)
# Seconds a Redis command may take before the caller treats Redis as down.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)

# One queue per priority; workers listen "urgent high normal low" in that order.
DELIVERY_QUEUE_NAMES = ("urgent", "high", "normal", "low")
# The one Redis configuration: django-rq (admin pages, rqworker) and the relay's own client both connect
# through these entries, which read REDIS_URL each time they are used (daraja.core.rq_settings).
RQ_QUEUES = QueuesOnRedisUrl(DELIVERY_QUEUE_NAMES, DEFAULT_TIMEOUT=360)
RQ = {"WORKER_CLASS": "delivery.worker.DeliveryWorker"}

# --- Inbound --------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Django refuses bodies over this before our view sees them; keep the two in step.
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES
# /test/priority/<user id>/<level> queues a sample callback at that priority, to try a setup out; never on in
# production unless asked.
ENABLE_TEST_ENDPOINTS = env.bool("ENABLE_TEST_ENDPOINTS", default=DEBUG)
# A built-in receiver at /demo/receiver that verifies signatures: the README's first delivery goes there.
ENABLE_DEMO_RECEIVER = env.bool("ENABLE_DEMO_RECEIVER", default=DEBUG)
WEBHOOK_SERVICE_PORT = env.int("WEBHOOK_SERVICE_PORT", default=3001)
# A callback repeating an earlier one (same kind, correlation id and result) within this window is
# acknowledged and counted, not delivered again.
DUPLICATE_WINDOW_HOURS = env.float("DUPLICATE_WINDOW_HOURS", default=72)
# C2B validation is answered synchronously: M-Pesa waits about 8 s, the merchant gets at most this.
C2B_VALIDATION_BUDGET_SECONDS = env.float("C2B_VALIDATION_BUDGET_SECONDS", default=5.0)
# Source-address allowlist for the inbound door (off by default). Safaricom publishes its callback
# addresses (Daraja "Getting Started"); the list changes from time to time, hence configuration.
INBOUND_SOURCE_ALLOWLIST_ENABLED = env.bool("INBOUND_SOURCE_ALLOWLIST_ENABLED", default=False)
INBOUND_ALLOWED_SOURCES = env.list(
    "INBOUND_ALLOWED_SOURCES",
    default=[
        "196.201.214.200",
        "196.201.214.206",
        "196.201.214.207",
        "196.201.214.208",
        "196.201.213.114",
        "196.201.213.44",
        "196.201.212.127",
        "196.201.212.138",
        "196.201.212.129",
        "196.201.212.136",
        "196.201.212.74",
        "196.201.212.69",
    ],
)
# Proxies (addresses or CIDRs) whose X-Forwarded-For is believed; empty: the socket address is the client.
INBOUND_TRUSTED_PROXIES = env.list("INBOUND_TRUSTED_PROXIES", default=[])

# --- Delivery defaults (each endpoint may override its own) ----------------
DELIVERY_DEFAULT_MAX_ATTEMPTS = env.int("DELIVERY_DEFAULT_MAX_ATTEMPTS", default=3)
DELIVERY_DEFAULT_INITIAL_DELAY = env.float("DELIVERY_DEFAULT_INITIAL_DELAY", default=2.0)
DELIVERY_DEFAULT_MULTIPLIER = env.float("DELIVERY_DEFAULT_MULTIPLIER", default=2.0)
DELIVERY_DEFAULT_MAX_DELAY = env.float("DELIVERY_DEFAULT_MAX_DELAY", default=3600.0)
DELIVERY_DEFAULT_TIMEOUT = env.float("DELIVERY_DEFAULT_TIMEOUT", default=30.0)
# Connect timeout is the smaller of this and the endpoint's request timeout.
DELIVERY_CONNECT_TIMEOUT = env.float("DELIVERY_CONNECT_TIMEOUT", default=10.0)
# Bytes of a receiver's response that are read; the rest is dropped unread.
DELIVERY_MAX_RESPONSE_BYTES = env.int("DELIVERY_MAX_RESPONSE_BYTES", default=64 * 1024)
# Characters of that response kept on the attempt row.
DELIVERY_RESPONSE_EXCERPT_CHARS = env.int("DELIVERY_RESPONSE_EXCERPT_CHARS", default=2000)
DELIVERY_USER_AGENT = env.str("DELIVERY_USER_AGENT", default="Daraja-Webhook-Relay/1.0")
# Networks (CIDRs) deliveries may go to although they are not public; empty in production.
# Local development and the tests set 127.0.0.0/8 so that a receiver on this machine can be reached.
DELIVERY_ALLOWED_NETWORKS = env.list("DELIVERY_ALLOWED_NETWORKS", default=[])
# After a signing secret is rotated, deliveries carry signatures of both secrets for this long.
SIGNING_SECRET_OVERLAP_HOURS = env.float("SIGNING_SECRET_OVERLAP_HOURS", default=24)
# Circuit breaker: consecutive failures that open an endpoint's circuit, the first probe cool-down
# (doubling after each failed probe, up to the maximum) and how long a circuit may stay open before
# the endpoint is paused and an alert fires.
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_COOLDOWN_SECONDS = env.float("CIRCUIT_COOLDOWN_SECONDS", default=30)
CIRCUIT_MAX_COOLDOWN_SECONDS = env.float("CIRCUIT_MAX_COOLDOWN_SECONDS", default=1800)
CIRCUIT_AUTO_PAUSE_HOURS = env.float("CIRCUIT_AUTO_PAUSE_HOURS", default=72)
# "Try again now" in the admin waits this long at most for the merchant's app (below gunicorn's 30 s).
TRY_NOW_TIMEOUT_SECONDS = env.float("TRY_NOW_TIMEOUT_SECONDS", default=10)
# Optional URL that receives a JSON POST when an endpoint is paused automatically.
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
# Callbacks reaching one web process while another's transaction commits are kept together in the next
# transaction (webhooks.group_commit), at most this many; 1 gives each callback its own transaction.
INBOUND_COMMIT_GROUP_MAX = env.int("INBOUND_COMMIT_GROUP_MAX", default=32)

# --- The delivery engine (delivery/engine.py, docs/ARCHITECTURE.md) ----------
# A new endpoint's max_in_flight: deliveries sent to one app at the same time across every worker (each
# endpoint has its own, set in the admin, the API or add_endpoint --max-in-flight). 32 lets an app that
# answers in 100 ms take 320 a second, while a hanging one holds 32 sends and no more.
DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT = env.int("DELIVERY_MAX_IN_FLIGHT_PER_ENDPOINT", default=32)
# Each worker process sends at most this many deliveries at once, on one event loop (no thread each).
DELIVERY_WORKER_CONCURRENCY = env.int("DELIVERY_WORKER_CONCURRENCY", default=128)
# One claim takes at most this many due deliveries, in one statement.
DELIVERY_CLAIM_BATCH = env.int("DELIVERY_CLAIM_BATCH", default=64)
# Every Nth claim takes the oldest due deliveries whatever their priority, so low priority never starves.
DELIVERY_CLAIM_OLDEST_EVERY = env.int("DELIVERY_CLAIM_OLDEST_EVERY", default=8)
# Outcomes are recorded in one transaction per flush: once this many are in, or this long after the first.
DELIVERY_FLUSH_MAX = env.int("DELIVERY_FLUSH_MAX", default=64)
DELIVERY_FLUSH_MS = env.int("DELIVERY_FLUSH_MS", default=20)
# A claim's lease is the endpoint's timeout plus this margin; a row whose lease ran out (its worker died)
# is claimable again. Sends end at the endpoint's timeout, so only a stalled worker outlives its lease.
DELIVERY_LEASE_MARGIN_SECONDS = env.float("DELIVERY_LEASE_MARGIN_SECONDS", default=60.0)
# With nothing due, a drain keeps looking this long before its job ends: callbacks arriving steadily are
# claimed by the drain that is awake instead of each paying for an RQ job (about 60 Redis commands).
DELIVERY_DRAIN_LINGER_MS = env.int("DELIVERY_DRAIN_LINGER_MS", default=1000)
# New deliveries wake the workers with one coalesced RQ job per priority: a process sends at most one
# wake-up per priority per window (0: at once, after every commit).
DELIVERY_WAKE_WINDOW_MS = env.int("DELIVERY_WAKE_WINDOW_MS", default=20)

# --- The sweeper (docs/reliability.md) ---------------------------------------
# Every worker runs RQ's maintenance this often (restarting a scheduler that died, e.g. in a Redis outage)
# and, once per interval across all workers, queues the sweep that re-queues deliveries whose job was lost.
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=30)
# A waiting delivery is only taken for jobless once it has been due this long (and is older than every
# job its own could be waiting behind), so a job that is merely queued is never doubled.
SWEEP_GRACE_SECONDS = env.float("SWEEP_GRACE_SECONDS", default=60.0)
# A delivery "delivering" for longer than its endpoint's timeout plus this margin lost its worker; the
# margin exceeds the 60 s RQ allows a job beyond that timeout, so a live attempt is never taken over.
SWEEP_STUCK_MARGIN_SECONDS = env.float("SWEEP_STUCK_MARGIN_SECONDS", default=90.0)
# At most this many deliveries are re-queued per sweep (oldest first); the next sweep takes the rest.
SWEEP_BATCH_SIZE = env.int("SWEEP_BATCH_SIZE", default=1000)

# --- Support admin (docs/admin.md) ----------------------------------------
# The queue dashboard and the dead-letter list warn past this many open dead letters,
# or when at least DEADLETTER_GROWTH_WARNING_PER_HOUR deliveries gave up within the last hour.
DEADLETTER_WARNING_THRESHOLD = env.int("DEADLETTER_WARNING_THRESHOLD", default=100)
DEADLETTER_GROWTH_WARNING_PER_HOUR = env.int("DEADLETTER_GROWTH_WARNING_PER_HOUR", default=50)
# "Retry everything matching this filter" retries at most this many per click (oldest first).
DEADLETTER_ADMIN_RETRY_LIMIT = env.int("DEADLETTER_ADMIN_RETRY_LIMIT", default=1000)

# Admin login throttling (django-axes, docs/admin.md): after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for
# one username from one address, that pair is locked out for ADMIN_LOGIN_COOLOFF_MINUTES; a superuser can
# unlock sooner (admin "Access attempts", or `manage.py axes_reset_username <name>`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one attacker cannot lock a colleague out everywhere
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_CLIENT_IP_CALLABLE = "daraja.login_throttling.login_client_address"

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="Africa/Nairobi")
USE_I18N = True
USE_TZ = True
# One date format in the admin (daraja/formats/en): Django's English one differs from the timeline's.
FORMAT_MODULE_PATH = ["daraja.formats"]
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "daraja.relay_api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "daraja.core.json_errors.json_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# --- Integration API (/api/, docs/api.md) ----------------------------------
# Requests per API key per period ("1200/min"; sec, min, hour or day), counted in Redis.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1200/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Daraja webhook relay API",
    "DESCRIPTION": "Endpoints, callbacks with every delivery attempt, the dead-letter queue and the queue "
    "numbers, for integrators. Every call needs `Authorization: Bearer <key>`; see docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["daraja.relay_api.schema.only_api_paths"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "daraja.relay_api.schema.add_error_responses",
    ],
    # Served from our own static files (drf-spectacular-sidecar), never from a CDN.
    "ENUM_NAME_OVERRIDES": {
        "ErrorCategoryEnum": "daraja.core.error_categories.ErrorCategory.choices",
        "DeliveryStatusEnum": "daraja.relay_api.callback_serializers.DELIVERY_STATUS_CHOICES",
        "PriorityEnum": "daraja.relay_api.destination_serializers.PRIORITY_NAMES",
        "CallbackKindEnum": "webhooks.models.KIND_CHOICES",
        "DeadLetterStateEnum": "daraja.relay_api.dead_letter_filters.DEAD_LETTER_STATES",
        "QueueStatusEnum": "daraja.relay_api.queue.QUEUE_STATUSES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# --- Operations: /metrics and retention (docs/operations.md) ----------------
# Who may scrape /metrics: clients on these networks (the socket address, never X-Forwarded-For) or
# anyone sending "Authorization: Bearer <METRICS_BEARER_TOKEN>" (when set); everyone else gets a 403.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")
# Counters count a row once it is this many seconds old, so that no row committed late is skipped.
METRICS_SETTLE_SECONDS = env.float("METRICS_SETTLE_SECONDS", default=15.0)
# At most this many rows per table are folded into the counters per scrape (a cold start catches up).
METRICS_FOLD_BATCH = env.int("METRICS_FOLD_BATCH", default=100_000)
# Delivered callbacks older than this many days are removed by `manage.py prune`.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
# ...and erases the raw body (the full phone number M-Pesa sent) of dead-lettered and other finished
# callbacks it keeps, once they are this old; their open dead letters are purged then (docs/operations.md).
DEAD_LETTER_RETENTION_DAYS = env.int("DEAD_LETTER_RETENTION_DAYS", default=90)

# --- Logging --------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "human": one readable line per record; "json": one JSON object per line with the request/delivery id.
LOG_FORMAT = env.str("LOG_FORMAT", default="human").lower()
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'human' or 'json', not {LOG_FORMAT!r}.")
LOGGING = logging_config(
    log_format=LOG_FORMAT,
    level=LOG_LEVEL,
    loggers={
        "django.db.backends": {"level": "INFO"},
        # RQ logs every job's arguments at INFO; ours are ids only, but keep its chatter down.
        "rq.worker": {"level": env.str("RQ_LOG_LEVEL", default="WARNING")},
        # django-axes announces its settings at every start (each manage.py command too); lockouts warn.
        "axes.apps": {"level": "WARNING"},
    },
)
