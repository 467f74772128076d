"""A failed attempt in a sentence for people, from what engineers keep (category, status, message).

The technical message stays on the attempt (``error_message``, the API's
``last_error``); ``error_summary`` is derived from it and never stored, so
older rows read as well as new ones. Pure functions, no I/O.
"""

from __future__ import annotations

import re

from daraja.core.error_categories import ErrorCategory

# delivery.sender's own phrasings (and aiohttp's, for rows written before they existed).
_CONNECT = re.compile(r"connection to (?P<host>\[?[^\s:\]]+\]?):(?P<port>\d+) failed: (?P<reason>.+)", re.I)
_LEGACY_CONNECT = re.compile(r"host='(?P<host>[^']+)', port=(?P<port>\d+)")
_NO_CONNECTION = re.compile(r"no connection to (?P<host>\S+) within (?P<seconds>[\d.]+) ?s", re.I)
_DEADLINE = re.compile(r"within the (?P<seconds>[\d.]+) ?s deadline", re.I)
_CERT_HOST = re.compile(r"not valid for '?(?P<host>[^'\s.]+(?:\.[^'\s.]+)*)'?", re.I)


def error_summary(category: str, status: int | None, message: str) -> str:
    """One sentence saying why an attempt failed; ``""`` when it did not (no category).

    ``"Connection refused by 127.0.0.1:9"``, ``"No answer within 15 s"``,
    ``"TLS certificate not valid for shop.example"``, ``"The shop's app answered 500"``.
    """
    if not category:
        return ""
    text = message or ""
    if status is not None and category != ErrorCategory.TIMEOUT:
        return _status_sentence(category, status)
    if category == ErrorCategory.TIMEOUT:
        if status == 408:
            return "The shop's app answered 408: it gave up waiting for the request"
        return _timeout_sentence(text)
    if category == ErrorCategory.DESTINATION_REFUSED:
        return "Not sent: the delivery URL points to a private or local address"
    if category == ErrorCategory.INVALID_RESPONSE:
        return "The shop's app sent an answer that is not valid HTTP"
    if category == ErrorCategory.NETWORK:
        return _network_sentence(text)
    return ErrorCategory(category).label if category in ErrorCategory.values else category


def _status_sentence(category: str, status: int) -> str:
    if category == ErrorCategory.RATE_LIMITED:
        return f"The shop's app asked us to slow down ({status})"
    if category == ErrorCategory.AUTHENTICATION:
        return f"The shop's app refused the request as unauthorised ({status}): check its signing secret"
    if category == ErrorCategory.GONE:
        return f"The shop's app says this URL is gone ({status}): the endpoint was paused"
    if category == ErrorCategory.REDIRECT:
        return f"The shop's app answered with a redirect ({status}); redirects are not followed"
    if category == ErrorCategory.CLIENT_ERROR:
        return f"The shop's app rejected the callback ({status})"
    return f"The shop's app answered {status}"


def _timeout_sentence(text: str) -> str:
    found = _NO_CONNECTION.search(text)
    if found:
        return f"No connection to {found['host']} within {_seconds(found['seconds'])} s"
    found = _DEADLINE.search(text)
    if found:
        return f"No answer within {_seconds(found['seconds'])} s"
    return "No answer in time"


def _network_sentence(text: str) -> str:
    lowered = text.lower()
    found = _CONNECT.search(text) or _LEGACY_CONNECT.search(text)
    where = f"{found['host']}:{found['port']}" if found else ""
    host = found["host"] if found else ""
    if "certificate" in lowered or "ssl" in lowered:
        cert = _CERT_HOST.search(text)
        if "expired" in lowered:
            return f"TLS certificate of {host or 'the shop'} has expired"
        if "self-signed" in lowered or "self signed" in lowered:
            return f"TLS certificate of {host or 'the shop'} is self-signed"
        return f"TLS certificate not valid for {cert['host'] if cert else host or 'the shop'}"
    if lowered.startswith("dns lookup failed") or "name or service not known" in lowered:
        return "The shop's address could not be found (DNS)"
    if "refused" in lowered:
        return f"Connection refused by {where}" if where else "Connection refused"
    if "reset" in lowered:
        return f"Connection reset by {where}" if where else "The connection was reset"
    if "disconnected" in lowered:
        return "The shop's app closed the connection without answering"
    if "unreachable" in lowered or "no route" in lowered:
        return f"{where or 'The shop'} cannot be reached from here (network unreachable)"
    if found is not None and "reason" in found.re.groupindex:
        return f"Could not connect to {where}: {found['reason'].strip()}"
    if found is not None:
        return f"Could not connect to {where}"
    return "Could not reach the shop's app"


def _seconds(value: str) -> str:
    return f"{float(value):g}"


def error_summary_of(row) -> str:
    """``error_summary`` of an attempt (``error_category``, ``response_status``, ``error_message``)."""
    return error_summary(row.error_category, row.response_status, row.error_message)
