"""Reads on endpoints and callbacks."""

from __future__ import annotations

import hmac

from webhooks.models import Endpoint


def endpoint_for_inbound(user_id: str, token: str | None) -> Endpoint | None:
    """The endpoint a callback may be accepted for, or ``None`` (refuse, without saying why).

    With a token: the user's endpoint when the token matches (compared in
    constant time). Without one (the bare legacy path): the endpoint only if
    it is explicitly marked as allowing the legacy path.
    """
    endpoint = Endpoint.objects.filter(user_id=user_id).first()
    if endpoint is None:
        return None
    if token is None:
        return endpoint if endpoint.allow_legacy_path else None
    if hmac.compare_digest(endpoint.inbound_token.encode(), token.encode()):
        return endpoint
    return None


def endpoint_by_user_id(user_id: str) -> Endpoint | None:
    return Endpoint.objects.filter(user_id=user_id).first()
