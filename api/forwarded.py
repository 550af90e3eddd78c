"""Which address a request came from, when reverse proxies stand in front (KYSO_TRUSTED_PROXIES).

A client can send any ``X-Forwarded-For`` it likes, so the header is read only when the socket peer is one
of the operator's proxies, and then only as far as the proxies vouch for it: walking the hops from the
right (each proxy appends the address it saw), the client is the first hop that is not itself a trusted
proxy. Every hop must be a plain IP address (no port, no brackets, no IPv6 zone — a zone is free text);
anything else, and a header from an untrusted peer, leaves the socket peer as the client. The result is
what the audit log's ``source``, the per-client rate limits and the /metrics allow-list see.

``forwarded_client`` is the one rule: ``ForwardedHeaders`` applies it to every request of the application
(the ASGI ``client``, and the scheme from ``X-Forwarded-Proto``), and the connection handler
(``api.fastpath.connection``) to the check-ins it answers itself. Uvicorn's own proxy-header handling is off
(``kyso serve``): it takes the header from ``FORWARDED_ALLOW_IPS`` peers without checking what it holds.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 16  # proxies a request may pass; hops further left are not looked at
_SCHEMES = frozenset({"http", "https"})


@functools.lru_cache(maxsize=16)
def trusted_networks(spec: str) -> tuple[Network, ...]:
    """KYSO_TRUSTED_PROXIES (comma-separated addresses or networks) parsed; ValueError if malformed."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def parse_address(text: str) -> Address | None:
    """``text`` as an IP address (IPv4-mapped IPv6 as IPv4), or None if it is anything else."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return None
        return address.ipv4_mapped or address
    return address


def _is_trusted(address: Address | None, trusted: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def forwarded_client(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str | None:
    """The client's address: the socket ``peer``, or — when the peer is a trusted proxy — the right-most
    hop of ``forwarded_for`` that is not a trusted proxy (canonical form). A hop that is not an IP address
    makes the whole header worthless: the peer is the client."""
    if not trusted or not forwarded_for or not _is_trusted(parse_address(peer or ""), trusted):
        return peer
    found: Address | None = None
    for hop in reversed(forwarded_for.split(",")[-MAX_HOPS:]):
        found = parse_address(hop.strip())
        if found is None:
            return peer
        if not _is_trusted(found, trusted):
            break
    return str(found) if found is not None else peer


class ForwardedHeaders:
    """ASGI middleware: a trusted proxy's ``X-Forwarded-For`` and ``X-Forwarded-Proto`` become the
    request's client and scheme; from anyone else they change nothing."""

    def __init__(self, app: Any, trusted_proxies: str) -> None:
        self.app = app
        self.trusted = trusted_networks(trusted_proxies)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if self.trusted and scope["type"] in ("http", "websocket"):
            peer = client[0] if client else None
            if _is_trusted(parse_address(peer or ""), self.trusted):
                scope = dict(scope)
                forwarded: list[str] = []
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded.append(value.decode("latin-1"))
                    elif name == b"x-forwarded-proto" and value.decode("latin-1").strip() in _SCHEMES:
                        scheme = value.decode("latin-1").strip()
                        scope["scheme"] = scheme if scope["type"] == "http" else scheme.replace("http", "ws")
                host = forwarded_client(peer, ",".join(forwarded) or None, self.trusted)
                if host != peer:
                    scope["client"] = (host, 0)
        await self.app(scope, receive, send)
