"""The shopper's IP address, believing X-Forwarded-For only from trusted proxies.

The rule is uvicorn's (middleware/proxy_headers.py): start from the peer the server saw; while
that hop is a trusted proxy, step one entry left in X-Forwarded-For. The first untrusted hop is
the client. The leftmost entry is whatever the client chose to send, so it is never taken blindly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

UNKNOWN_IP = "0.0.0.0"  # noqa: S104 - sent, never bound: the API requires an ip even when the server gives none
_MAX_HOPS = 32  # a longer chain is not a real deployment; walking it would only cost time


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1 : text.find("]")]
    elif text.count(":") == 1:  # "203.0.113.9:51234"
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """Parsed once from ``PURECLARITY_TRUSTED_PROXIES``: addresses, CIDR networks, or ``*`` for all."""

    __slots__ = ("_networks", "_trust_all")

    def __init__(self, entries: Iterable[str]) -> None:
        entries = tuple(entries)
        self._trust_all = "*" in entries
        self._networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in entries if entry != "*")

    def _trusts(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return self._trust_all or any(address in network for network in self._networks)

    def client_ip(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = client[0] if client else None
        if not peer:
            return UNKNOWN_IP
        if not (self._trust_all or self._networks):
            return str(peer)
        peer_address = _parse_ip(peer)
        if peer_address is None or not self._trusts(peer_address):
            return str(peer)
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        hops = forwarded.decode("latin-1").split(",")[::-1][:_MAX_HOPS] if forwarded else []
        client_address = peer_address
        for hop in hops:
            address = _parse_ip(hop)
            if address is None:  # garbage where an address should be: stop at the last good hop
                break
            client_address = address
            if not self._trusts(address):
                break
        return str(client_address)
