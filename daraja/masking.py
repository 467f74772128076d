"""Masking of personal data before it reaches logs, listings or storage.

Kenyan MSISDNs appear in M-Pesa payloads as ``254712345678``, ``0712345678``
or ``+254712345678``. A masked number keeps enough to be recognised by the
person who owns it (the country/network prefix and the last three digits)
and nothing more: ``254712345678`` → ``2547*****678``.
"""

from __future__ import annotations

import re

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
