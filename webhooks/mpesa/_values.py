"""Parsing of the individual values found in M-Pesa callbacks. Nothing here raises.

- Amounts: ``1``, ``1.0``, ``"1.00"``, ``"1,000.00"`` → ``Decimal``; anything else → ``None``.
- Times: ``YYYYMMDDHHMMSS`` (string or number), ``DD.MM.YYYY HH:MM:SS`` and
  ``YYYY-MM-DD HH:MM:SS`` (or with ``T``) are East Africa Time (UTC+3) wall-clock
  times; they come back as aware datetimes in UTC. Impossible dates → ``None``.
- Phone numbers: never returned raw (see ``mask_phone``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation

from daraja.core.masking import mask_phone_numbers

from ._shape import text

EAT = dt.timezone(dt.timedelta(hours=3), "EAT")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_COMPACT_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})", re.ASCII)
_DOTTED_TIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})", re.ASCII)
_ISO_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})", re.ASCII)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
_LONG_DIGITS = re.compile(r"\d{6,}")
# Result.TransactionID on failures and queries is a zero-filled placeholder: "NLJ0000000", "OA90000000".
_PLACEHOLDER_ID = re.compile(r"[A-Za-z0-9]{0,4}0{6,}", re.ASCII)


def parse_amount(value: object) -> Decimal | None:
    """A finite ``Decimal`` from a number or a plain decimal string (thousands commas allowed)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    candidate = value.strip().replace(",", "")
    if len(candidate) > 40 or not _NUMBER.fullmatch(candidate):
        return None
    try:
        return Decimal(candidate)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return None


def parse_time(value: object) -> dt.datetime | None:
    """An aware UTC datetime from an EAT timestamp in one of the known forms, else ``None``."""
    raw = text(value)
    if len(raw) > 40:
        return None
    if match := _COMPACT_TIME.fullmatch(raw):
        year, month, day, hour, minute, second = match.groups()
    elif match := _DOTTED_TIME.fullmatch(raw):
        day, month, year, hour, minute, second = match.groups()
    elif match := _ISO_TIME.fullmatch(raw):
        year, month, day, hour, minute, second = match.groups()
    else:
        return None
    try:
        local = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=EAT)
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def mask_phone(value: object) -> str:
    """A phone number fit to store: masked, kept as is if already masked, or a short hash tag.

    ``254708374149`` → ``2547*****149``; ``"2547 ***** 126"`` stays; a SHA-256 hex
    digest becomes ``sha256:<first 12 hex chars>…``. Any run of six or more digits
    left after Kenyan-number masking (a foreign or malformed number) is masked too,
    keeping at most its first four and last three digits, so the raw number never
    comes back.
    """
    raw = text(value)
    if not raw:
        return ""
    if _SHA256.fullmatch(raw):
        return f"sha256:{raw[:12].lower()}…"
    return _LONG_DIGITS.sub(_mask_digit_run, mask_phone_numbers(raw))


def _mask_digit_run(match: re.Match[str]) -> str:
    digits = match.group(0)
    if len(digits) >= 10:
        return digits[:4] + "*" * (len(digits) - 7) + digits[-3:]
    return "*" * (len(digits) - 3) + digits[-3:]


def party_phone(value: object) -> str:
    """The masked phone number of a ``"254705912645 - NAME"`` party value; ``""`` if the party is no phone.

    Shortcodes (``"600310 - Safaricom333"``) and names are not returned.
    """
    party = text(value).split(" - ", 1)[0].strip()
    if not party:
        return ""
    if _SHA256.fullmatch(party):
        return mask_phone(party)
    masked = mask_phone_numbers(party)
    if masked != party:
        return mask_phone(masked)
    if "*" in party and re.fullmatch(r"\+?[\d* ]+", party):
        return mask_phone(party)
    return ""


def receipt_or_blank(value: object) -> str:
    """``value`` as text, or ``""`` if it is a zero-filled placeholder transaction id."""
    receipt = text(value)
    return "" if _PLACEHOLDER_ID.fullmatch(receipt) else receipt
