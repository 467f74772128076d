"""Logging helpers: personal data and secrets never leave the process, in either log format.

``LOG_FORMAT=human`` (the default) keeps the original design's lines;
``LOG_FORMAT=json`` writes one JSON object per line (python-json-logger).
Both formatters pass their finished text through :func:`redact`, so phone
numbers, signing secrets, inbound tokens and bearer keys are masked in the
message, in tracebacks and in any extra field alike. The flow filter adds
the request id or delivery id of the flow a record belongs to
(``daraja.request_context``).
"""

import logging
import re
import sys
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

from daraja.masking import mask_phone_numbers
from daraja.request_context import current_flow

HUMAN_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

# A Standard Webhooks secret (whsec_ + base64), wherever it appears.
_SIGNING_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
# The token segment of the inbound door /webhook/<user_id>/<token>: it is what admits a caller.
_INBOUND_TOKEN = re.compile(r"(/webhook/[^/\s\"'?#]+/)(?!c2b-validation\b|c2b-confirmation\b)[^/\s\"'?#]+")
# API keys and metrics tokens sent as "Authorization: Bearer …".
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with phone numbers masked and secrets (signing secrets, inbound tokens, bearer keys) cut."""
    text = mask_phone_numbers(text)
    text = _SIGNING_SECRET.sub("whsec_[redacted]", text)
    text = _INBOUND_TOKEN.sub(r"\1[redacted]", text)
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
    """The original design's lines (``… INFO [delivery.sending] 🚀 Delivering webhook to …``), redacted."""

    def __init__(self, fmt: str = HUMAN_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the flow ids, any extras.

    ``time`` is ISO 8601 in UTC with milliseconds, the same in every process
    (Django sets the process time zone from ``TIME_ZONE``; gunicorn's master
    keeps the host's). ``exc_info`` carries the traceback as text. Non-ASCII
    (the original lines' emoji) is written as is, not as escapes.
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
