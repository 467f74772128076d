"""Reads on endpoints and callbacks."""

from __future__ import annotations

from webhooks.models import Endpoint


def endpoint_for_inbound(user_id: str) -> Endpoint | None:
    """The endpoint a callback for ``user_id`` belongs to, or ``None`` when there is none."""
    return Endpoint.objects.filter(user_id=user_id).first()
