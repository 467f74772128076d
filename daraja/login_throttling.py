"""Admin login throttling (django-axes): which address a login attempt counts against.

Behind the required proxy every request comes from the proxy's address, so
``X-Forwarded-For`` is believed from ``INBOUND_TRUSTED_PROXIES`` (the same
rule as the inbound door's source check); from anyone else the socket peer
counts, since any client can write that header.
"""

from __future__ import annotations

from django.conf import settings

from webhooks.sources import client_address


def login_client_address(request) -> str | None:
    """The client address django-axes locks out (with the username): the peer, or the proxy's client."""
    return client_address(
        request.META.get("REMOTE_ADDR"),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.INBOUND_TRUSTED_PROXIES,
    )
