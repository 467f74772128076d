"""Where a callback came from: the client address behind trusted proxies, and the source allowlist."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Parse addresses or CIDRs; a bad entry fails loudly at the first request rather than being ignored."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _parse(address: str | None):
    try:
        return ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None


def in_networks(address: str | None, entries: list[str] | tuple[str, ...]) -> bool:
    ip = _parse(address)
    return ip is not None and any(ip in network for network in _networks(tuple(entries)))


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trusted_proxies: list[str]
) -> str | None:
    """The address of the client that sent the request.

    ``X-Forwarded-For`` is believed only when the socket peer is a trusted
    proxy; then the chain is read from the right, skipping trusted proxies,
    and the first address that is not one is the client. Anyone can write an
    ``X-Forwarded-For`` header: trusting it from an untrusted peer would let
    a stranger claim to be Safaricom.
    """
    if not forwarded_for or not in_networks(remote_addr, trusted_proxies):
        return remote_addr or None
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _parse(hop) is None:
            return None  # a garbled chain: the client cannot be known
        if not in_networks(hop, trusted_proxies):
            return hop
    return hops[0] if hops else remote_addr
