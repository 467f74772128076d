"""Creating, finding and revoking API keys.

A key is ``drk_<prefix>_<secret>``: the prefix (public, unique) finds the
row, and the SHA-256 digest of the whole key, compared in constant time,
proves it. SHA-256 rather than a slow password hash (PBKDF2, bcrypt) on
purpose: slow hashes protect low-entropy secrets people choose from
guessing, but a key carries 256 random bits, so a fast hash loses nothing
and every API request is spared the hundred milliseconds a slow one costs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from daraja.models import ApiKey

logger = logging.getLogger(__name__)

KEY_PREFIX = "drk_"
# last_used_at is written at most this often per key, so reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, name: str, user_id: str = "") -> tuple[ApiKey, str]:
    """Create a key and return ``(row, key)``; the key is not stored and cannot be shown again.

    Validates the row first (``django.core.exceptions.ValidationError`` per field).
    """
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(name=name, user_id=user_id, prefix=prefix, key_digest=key_digest(key))
    api_key.full_clean()
    api_key.save()
    logger.info("🔑 API key %s… created (%s)", prefix, f"merchant {user_id}" if user_id else "operator")
    return api_key, key


def api_key_for(key: str) -> ApiKey | None:
    """The key row ``key`` proves, revoked or not; ``None`` when it is malformed or unknown."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, _, secret = key[len(KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_digest, key_digest(key)):
        return None
    return api_key


def api_key_touch(api_key: ApiKey) -> None:
    """Record that the key was used (at most once per ``LAST_USED_RESOLUTION``)."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def api_keys_revoke(api_keys: QuerySet[ApiKey]) -> int:
    """Revoke the given keys that are still live; returns how many. Revoked keys stay as history."""
    now = timezone.now()
    revoked = api_keys.filter(revoked_at__isnull=True).update(revoked_at=now, updated_at=now)
    logger.info("🔒 %d API keys revoked", revoked)
    return revoked
