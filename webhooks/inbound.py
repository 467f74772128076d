"""Checks on an inbound request body: size, content type, JSON object; the parsed copy made fit to keep.

Each check raises ``InboundRejected`` carrying the HTTP status and a message
that names the problem; nothing here touches the database.

The parsed copy (``Callback.payload``, what people read in the admin and the
API) never holds a full phone number: phone fields and anything shaped like
a Kenyan mobile number are masked (``2547*****149``) in the same pass that
makes the text storable. The raw body, which deliveries send byte for byte,
is kept apart and erased by ``prune`` after the retention window.
"""

from __future__ import annotations

import json
import math
from typing import Any

from daraja.core.masking import mask_phone_numbers
from webhooks.mpesa import mask_phone

# Headers kept with a callback: enough to tell where it came from, nothing sensitive.
KEPT_HEADERS = (
    "Content-Type",
    "Content-Length",
    "User-Agent",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Real-Ip",
    "X-Request-Id",
)


class InboundRejected(Exception):
    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def check_content_type(content_type: str | None) -> None:
    """Only JSON is accepted (``application/json``, any charset parameter, or ``application/*+json``)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    shown = media_type or "none"
    raise InboundRejected(
        415, "unsupported_media_type", f"Content-Type must be application/json, got {shown}."
    )


def check_size(length: int, limit: int) -> None:
    if length > limit:
        raise InboundRejected(
            413, "payload_too_large", f"Body is {length} bytes; the limit is {limit} bytes."
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict; ``InboundRejected`` (400) when a key repeats.

    With a repeated key the relay and the merchant's app could read two
    different payments from one body (parsers keep the first or the last):
    such a body is refused instead.
    """
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InboundRejected(
            400,
            "invalid_json",
            f"Duplicate key {repeated[:60]!r} in a JSON object: each key must appear once.",
        )
    return result


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, made safe to store; ``InboundRejected`` (400) otherwise.

    Rejects invalid UTF-8, malformed JSON, ``NaN``/``Infinity`` and numbers
    too large for a float, nesting deep enough to exhaust the parser, an
    object with a repeated key, and any top-level value that is not an
    object. The raw bytes are kept separately and never altered; the parsed
    copy has NUL characters and lone surrogates replaced, which no database
    JSON type can store, and its phone numbers masked (see the module's
    docstring).
    """
    if not body.strip():
        raise InboundRejected(400, "invalid_json", "Body is empty; expected a JSON object.")
    try:
        text = body.decode("utf-8")
        payload = json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except UnicodeDecodeError:
        raise InboundRejected(400, "invalid_json", "Body is not valid UTF-8.") from None
    except RecursionError:
        raise InboundRejected(400, "invalid_json", "JSON is nested too deeply.") from None
    except ValueError as exc:
        raise InboundRejected(400, "invalid_json", f"Malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InboundRejected(
            400,
            "invalid_json",
            f"Expected a JSON object, got {type(payload).__name__.replace('dict', 'object')}.",
        )
    try:
        return _storable(payload)
    except RecursionError:
        raise InboundRejected(400, "invalid_json", "JSON is nested too deeply.") from None


# Keys whose value is a phone number (C2B's MSISDN), and parameter names whose "Value" is one
# (STK's {"Name": "PhoneNumber", "Value": 254708374149}): masked whatever their format.
PHONE_KEYS = frozenset({"PhoneNumber", "phoneNumber", "MSISDN", "Msisdn", "msisdn"})


def mask_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload with its phone numbers masked as at the door (a masked one comes back the same)."""
    return _storable(payload)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        value = _clean_text(value)
        # The shortest number masked is 10 characters (0712345678): most values are shorter.
        return mask_phone_numbers(value) if len(value) >= 10 else value
    if isinstance(value, dict):
        phone_parameter = _names_a_phone(value.get("Name")) or _names_a_phone(value.get("Key"))
        kept = {}
        for key, item in value.items():
            key = _clean_text(key)
            if item is not None and (key in PHONE_KEYS or (phone_parameter and key == "Value")):
                kept[key] = mask_phone(item)
            else:
                kept[key] = _storable(item)
        return kept
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if type(value) is int and 254_100_000_000 <= value < 254_800_000_000:
        # A Kenyan mobile number sent as a JSON number: 2541xxxxxxxx or 2547xxxxxxxx.
        return mask_phone(value) if value < 254_200_000_000 or value >= 254_700_000_000 else value
    return value


def _names_a_phone(name: object) -> bool:
    return isinstance(name, str) and name in PHONE_KEYS


def _clean_text(text: str) -> str:
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\ufffd")


def kept_headers(headers) -> dict[str, str]:
    """The request headers worth keeping with the callback."""
    return {name: headers[name][:500] for name in KEPT_HEADERS if name in headers}
