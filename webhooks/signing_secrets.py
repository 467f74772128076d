"""Standard Webhooks signing secrets: ``whsec_`` + base64 of 32 random bytes."""

import base64
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format prefix, not a secret


def generate_signing_secret() -> str:
    """A new secret in the format every Standard Webhooks library accepts."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_hint(secret: str) -> str:
    """What may be shown of a secret after creation: its prefix and last four characters."""
    if not secret:
        return ""
    return f"{SECRET_PREFIX}…{secret[-4:]}"
