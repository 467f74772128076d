"""Inbound tokens: the unguessable part of the URL M-Pesa calls.

M-Pesa's C2B URL registration rejects callback URLs containing certain words
(in any case); neither tokens nor user ids may contain them.
"""

import secrets
import string

# Words Safaricom rejects in callback URLs (shared/mpesa/README.md).
FORBIDDEN_URL_WORDS = ("mpesa", "m-pesa", "safaricom", "exe", "exec", "cmd", "sql", "query")

_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_LENGTH = 32  # 32 characters of 36 symbols: about 165 bits


def contains_forbidden_word(text: str) -> str | None:
    """The first forbidden word found in ``text`` (any case), or ``None``."""
    lowered = text.lower()
    return next((word for word in FORBIDDEN_URL_WORDS if word in lowered), None)


def generate_inbound_token() -> str:
    """A new random token, guaranteed free of the words M-Pesa rejects."""
    while True:
        token = "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))
        if contains_forbidden_word(token) is None:
            return token
