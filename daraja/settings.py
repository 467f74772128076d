"""Settings for the Daraja webhook relay.

Every knob is read from the environment here, once, with a default that
serves a local run; production differs only by environment. The full list
lives in docs/operations.md.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("DARAJA_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-local-development-key-change-me")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_rq",
    "daraja.apps.DarajaConfig",
    "webhooks",
    "delivery",
    "deadletter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A web process and a worker write to the same file: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = env.int("SQLITE_TIMEOUT", default=20)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ ---------------------------------------------------------
# REDIS_URL wins; otherwise the URL is built from the original design's REDIS_* variables.
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
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 360} for name in DELIVERY_QUEUE_NAMES}
RQ = {"WORKER_CLASS": "delivery.worker.DeliveryWorker"}

# --- Inbound --------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Django refuses bodies over this before our view sees them; keep the two in step.
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES
# The original design's /test/priority endpoints; never on in production unless asked.
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
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "daraja.api_errors.json_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- Logging --------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal_data": {"()": "daraja.logging.MaskPersonalDataFilter"}},
    "formatters": {
        "human": {"format": "%(asctime)s %(levelname)s [%(name)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "()": "daraja.logging.ConsoleHandler",
            "formatter": "human",
            "filters": ["mask_personal_data"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # RQ logs every job's arguments at INFO; ours are ids only, but keep its chatter down.
        "rq.worker": {"level": env.str("RQ_LOG_LEVEL", default="WARNING")},
    },
}
