"""The destination guard: deliveries never go to our own network.

A delivery URL whose host resolves to a loopback, private, link-local
(cloud metadata included), shared, multicast, reserved or otherwise
non-global address is refused — when the endpoint is saved and again at
every delivery — unless the address lies in ``DELIVERY_ALLOWED_NETWORKS``.
The transport then connects to the very address that was checked (see
``delivery.transport``), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings


class DestinationRefused(Exception):
    """The URL may not be delivered to; the message says why, for people."""


@dataclass(frozen=True)
class CheckedDestination:
    host: str
    address: str


def resolve(host: str, port: int) -> list[str]:
    """All addresses ``host`` resolves to (IPv4 and IPv6). Tests replace this to play a DNS server."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@lru_cache(maxsize=16)
def _allowed_networks(entries: tuple[str, ...]):
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


# NAT64's well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches the IPv4 host a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The local-use NAT64 prefix (RFC 8215): whatever it translates to is the operator's own network.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), else ``ip`` itself.

    A relay that can reach IPv6 reaches the IPv4 host inside a 6to4 or NAT64
    address through a gateway: that host is the one to judge.
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to judge: the IPv4 host an IPv6 address stands for, when it stands for one."""
    return _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))


def _refusal(address: str) -> str | None:
    """Why ``address`` is refused, or ``None`` when it may be delivered to."""
    ip = _ip(address)
    if any(ip in network for network in _allowed_networks(tuple(settings.DELIVERY_ALLOWED_NETWORKS))):
        return None
    for label, test in (
        ("loopback", ip.is_loopback),
        ("reserved", ip.is_reserved or ip.is_unspecified),
        ("link-local (cloud metadata lives here)", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
    ):
        if test:
            return label
    if not ip.is_global or ip in _NAT64_LOCAL:
        return "not publicly routable"
    return None


def check_destination(url: str) -> CheckedDestination:
    """Resolve ``url``'s host and check every address; returns the address to connect to.

    Raises ``DestinationRefused`` when any address is refused (a host that
    resolves to one public and one private address is refused: which one a
    client picks is not ours to guess), and ``OSError`` when the name does
    not resolve (a network failure, retried like one).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port out of range, a broken IPv6 literal
        raise DestinationRefused(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise DestinationRefused(f"{url!r} is not an http(s) URL with a host")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except UnicodeError as exc:  # a label too long or empty: no DNS name at all
        raise DestinationRefused(f"{host!r} is not a valid host name: {exc}") from None
    if not addresses:
        raise OSError(f"{host} resolved to no address")
    for address in addresses:
        if reason := _refusal(address):
            # Name the way out: someone trying the relay with an app on their own machine or network
            # needs the setting, and it only ever widens what the operator chooses.
            network = ipaddress.ip_network(_ip(address))
            raise DestinationRefused(
                f"{host} resolves to {address}, a {reason} address: deliveries may not go there unless "
                f"DELIVERY_ALLOWED_NETWORKS includes it (e.g. DELIVERY_ALLOWED_NETWORKS={network}, "
                "for a test setup)"
            )
    return CheckedDestination(host=host, address=addresses[0])


def validate_destination_url(url: str) -> None:
    """For saving an endpoint: refuse a URL that resolves to a forbidden address.

    A name that does not resolve yet is accepted (the merchant may be setting
    up DNS); it is checked again at every delivery.
    """
    try:
        check_destination(url)
    except OSError:
        return
