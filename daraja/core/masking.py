"""Masking of personal data and URL secrets before they reach logs, listings or storage.

Kenyan MSISDNs appear in M-Pesa payloads as ``254712345678``, ``0712345678``
or ``+254712345678``. A masked number keeps enough to be recognised by the
person who owns it (the country/network prefix and the last three digits)
and nothing more: ``254712345678`` → ``2547*****678``.

A merchant's URL may carry its own credentials (``https://user:pw@host``)
or a token in its query string: ``redact_urls`` cuts both from any text.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# A Kenyan mobile number: optional +, 254 or 0, then 7xx or 1xx and 8 digits.
# The look-arounds keep us from masking digits inside longer numbers such as
# transaction times (20191219102115) or amounts with many digits.
_MSISDN = re.compile(r"(?<![\d*])(\+?254|0)([17])(\d{5})(\d{3})(?![\d*])")


def mask_phone_numbers(text: str) -> str:
    """Mask every Kenyan mobile number found anywhere in ``text``.

    Text that is already masked (``2547 ***** 126``), hashed (a SHA-256 hex
    digest) or holds no phone number comes back unchanged.
    """
    return _MSISDN.sub(lambda m: f"{m.group(1)}{m.group(2)}*****{m.group(4)}", text)


# A URL's userinfo (https://user:pw@host) and query (?token=…): either may hold a merchant's secrets.
_URL_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@\"'<>]+@")
_URL_QUERY = re.compile(r"(\bhttps?://[^\s?#\"'<>]*\?)[^\s#\"'<>]+", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with the userinfo and query string of every URL in it replaced by ``[redacted]``.

    ``connection to https://u:pw@shop.example/hook?token=t failed`` →
    ``connection to https://[redacted]@shop.example/hook?[redacted] failed``.
    """
    if "://" not in text:
        return text
    return _URL_QUERY.sub(r"\1[redacted]", _URL_USERINFO.sub(r"\1[redacted]@", text))


def redact_url(url: str) -> str:
    """``url`` without its secrets, for logs and listings: userinfo and query shown as ``[redacted]``.

    ``https://u:pw@shop.example/hook?token=t`` → ``https://[redacted]@shop.example/hook?[redacted]``;
    a URL without either comes back as it was. The fragment is dropped (it is never sent).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return redact_urls(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port:
        host = f"{host}:{port}"
    userinfo = "[redacted]@" if "@" in parts.netloc else ""
    query = "?[redacted]" if parts.query else ""
    return f"{parts.scheme}://{userinfo}{host}{parts.path}{query}"
