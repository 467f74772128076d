"""Logging helpers: personal data and secrets never leave the process, in either log format.

``LOG_FORMAT=human`` (the default) writes one readable line per record;
``LOG_FORMAT=json`` writes one JSON object per line (python-json-logger).
Both formatters pass their finished text through :func:`redact`, so phone
numbers, signing secrets, inbound tokens and bearer keys are masked in the
message, in tracebacks and in any extra field alike. The flow filter adds
the request id or delivery id of the flow a record belongs to
(``daraja.core.request_context``). ``logging_config`` is the one
``dictConfig`` both the Django processes (``settings.LOGGING``) and
gunicorn's master (``deploy/gunicorn.conf.py``) use.
"""

import logging
import re
import sys
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

from daraja.core.masking import mask_phone_numbers, redact_urls
from daraja.core.request_context import current_flow

LOG_FORMATS = ("human", "json")
HUMAN_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

# A Standard Webhooks secret (whsec_ + base64), wherever it appears.
_SIGNING_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
# /webhook/<user_id>/<token>[/hint]: the token is what admits a caller. The user id ends at a slash or an
# encoded one (gunicorn decodes %2F, so /webhook/shop%2F<token> is a token path too); everything after it
# is cut, however many slashes, except the c2b-validation / c2b-confirmation hint.
_INBOUND_PATH = re.compile(r"(/webhook/(?:(?!%2[fF])[^/\s\"'?#])*)((?:/|%2[fF])[^\s\"'?#]*)")
_PATH_SEPARATOR = re.compile(r"/|%2[fF]")
_HINTS = ("c2b-validation", "c2b-confirmation")
# API keys and metrics tokens sent as "Authorization: Bearer …".
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)
# An API key wherever it appears (in a query string, a pasted header): its prefix is public, the rest not.
_API_KEY = re.compile(r"\b(drk_[0-9a-f]+_)[A-Za-z0-9_-]+")
# A query parameter whose name says it carries a secret (?key=…, &access_token=…, ?password=…).
_SECRET_PARAMETER = re.compile(
    r"([?&;](?:[\w.-]*(?:key|token|secret|passw(?:or)?d|pwd|signature|sig|auth\w*|credential\w*)"
    r")=)[^&;#\s\"']*",
    re.IGNORECASE,
)


def _cut_inbound_token(match: re.Match) -> str:
    segments = [segment for segment in _PATH_SEPARATOR.split(match.group(2)) if segment]
    if not segments or (len(segments) == 1 and segments[0] in _HINTS):
        return match.group(0)  # the bare legacy path (with or without a hint): no token in it
    hint = f"/{segments[-1]}" if len(segments) > 1 and segments[-1] in _HINTS else ""
    return f"{match.group(1)}/[redacted]{hint}"


def redact(text: str) -> str:
    """``text`` with phone numbers masked and secrets cut.

    Cut: signing secrets, inbound tokens (every path segment after the user
    id), bearer and API keys, query parameters named like secrets (``key``,
    ``token``, ``password``…), and the userinfo and query string of any
    ``http(s)://`` URL (a merchant's URL may carry its own credentials).
    """
    text = mask_phone_numbers(text)
    text = _SIGNING_SECRET.sub("whsec_[redacted]", text)
    text = redact_urls(text)
    text = _INBOUND_PATH.sub(_cut_inbound_token, text)
    text = _API_KEY.sub(r"\1[redacted]", text)
    text = _SECRET_PARAMETER.sub(r"\1[redacted]", text)
    return _BEARER.sub(r"\1[redacted]", text)


class MaskPersonalDataFilter(logging.Filter):
    """Mask phone numbers in every record's rendered message.

    The record's message is rendered once here (``getMessage``) and the
    arguments dropped, so a handler further down cannot re-render the raw
    values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone_numbers(message)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        return True


class FlowContextFilter(logging.Filter):
    """Put the current flow's ids (``request_id``, ``delivery_id``, ``endpoint_id``) on the record.

    Only ids that are set are added, so a line outside any flow carries none.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_flow().items():
            setattr(record, name, value)
        return True


class HumanFormatter(logging.Formatter):
    """One readable line per record (``… INFO [delivery.sending] 🚀 Delivering webhook to …``), redacted."""

    def __init__(self, fmt: str = HUMAN_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the flow ids, any extras.

    ``time`` is ISO 8601 in UTC with milliseconds, the same in every process
    (Django sets the process time zone from ``TIME_ZONE``; gunicorn's master
    keeps the host's). ``exc_info`` carries the traceback as text. Non-ASCII
    (the emoji that start many lines) is written as is, not as escapes.
    """

    def __init__(self, fmt: str = JSON_FIELDS, datefmt: str | None = None) -> None:
        super().__init__(
            fmt,
            datefmt,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    Test runners and process managers swap ``sys.stderr``; a handler that
    kept the stream it was configured with would write to a closed file.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass  # always the current sys.stderr


def logging_config(*, log_format: str, level: str, loggers: dict[str, dict] | None = None) -> dict:
    """The ``logging.config.dictConfig`` of a relay process: every record to one console handler.

    The handler writes ``log_format`` (``human`` or ``json``; ``ValueError``
    otherwise) to the current ``sys.stderr``, with the flow's ids added and
    phone numbers masked; both formatters cut secrets from the finished line,
    tracebacks included. The root logger is at ``level``; ``loggers`` adds
    per-logger settings (levels, handlers) on top.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "flow_context": {"()": "daraja.core.logging.FlowContextFilter"},
            "mask_personal_data": {"()": "daraja.core.logging.MaskPersonalDataFilter"},
        },
        "formatters": {
            "human": {"()": "daraja.core.logging.HumanFormatter"},
            "json": {"()": "daraja.core.logging.JsonLineFormatter"},
        },
        "handlers": {
            "console": {
                "()": "daraja.core.logging.ConsoleHandler",
                "formatter": log_format,
                "filters": ["flow_context", "mask_personal_data"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": dict(loggers or {}),
    }
