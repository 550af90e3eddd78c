"""Arrival webhooks: the server POSTs only to public addresses, unless the operator allows more.

Any official names the URL (``notify_webhook``), so without a check the server would post, from inside
the operator's network, wherever an official likes: loopback services, the cloud metadata address
(169.254.169.254), private networks. Here:

- ``check_url`` (when an invitation is created or amended): http(s) only, no user name or password, and a
  host that is not clearly internal — an IP literal in any spelling (``2130706433``, ``0x7f.1``, ``127.1``,
  ``[::ffff:127.0.0.1]``) that is not public, or ``localhost``/``*.localhost``, is refused (422);
- ``post`` (when sending): the host is resolved once; every address it resolves to must be public, and
  the request is sent to that checked address (the Host header and TLS name stay the URL's), so a DNS
  answer that changes between check and connection cannot move it inside; redirects are not followed;
  the whole exchange has a deadline. A refused destination raises ``WebhookRefused``, which the outbox
  gives up at once rather than retrying.

Public means globally routable: not loopback, private, shared (100.64/10), link-local, multicast,
reserved, unspecified or documentation space, with IPv4 addresses embedded in IPv6 (mapped, 6to4,
Teredo, NAT64, compatible) judged as the IPv4 address they carry. ``KYSO_WEBHOOK_ALLOW`` lists networks
and host names the operator allows anyway (an in-house receiver); a listed host name is allowed whatever
it resolves to.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from core.errors import Kind, ServiceError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
TIMEOUT = 5.0  # seconds to connect, and for each read
DEADLINE = 10.0  # seconds for the whole exchange
MAX_ADDRESSES = 16  # of one name's DNS answers, looked at
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*"
)
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class WebhookRefused(ServiceError):
    """A webhook destination this server will not post to (refused, not merely unreachable)."""

    def __init__(self, message: str) -> None:
        super().__init__(Kind.MALFORMED, message)


@dataclass(frozen=True)
class WebhookPolicy:
    """What, beyond public addresses, webhooks may reach (KYSO_WEBHOOK_ALLOW)."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, spec: str) -> WebhookPolicy:
        """Comma-separated networks (10.20.0.0/16, 192.0.2.7) and host names; ValueError otherwise."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for part in spec.split(","):
            entry = part.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if not _HOST_NAME.fullmatch(entry):
                    raise ValueError(
                        f"KYSO_WEBHOOK_ALLOW: {part.strip()!r} is neither a network nor a host name"
                    ) from None
                hosts.add(entry)
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, address: Address) -> bool:
        return is_public(address) or any(address in network for network in self.networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in prefix for prefix in _NAT64) or int(address) >> 32 == 0:  # NAT64, ::a.b.c.d
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally routable, and no IPv4 address inside it that is not."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return False
        inner = _embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def ip_literal(host: str) -> Address | None:
    """``host`` as an IP address, in any spelling a resolver would accept (IPv4 as one number, in hex or
    octal, with parts left out); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9][0-9a-fx.]*", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, ASCII (IDNA), without brackets or a trailing dot
    port: int
    path: str  # with the query


def check_url(url: str, policy: WebhookPolicy) -> Target:
    """The URL's parts, if it is an http(s) URL whose host is not clearly internal; WebhookRefused if not."""
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookRefused("the notification webhook is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("the notification webhook must be an http(s) URL of at most 500 characters")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused("the notification webhook must not carry a user name or password")
    host = parts.hostname
    if not host.isascii() and ip_literal(host) is None:  # as a resolver sees it: full-width dots are dots
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise WebhookRefused("the notification webhook's host name is not valid") from None
    host = host.rstrip(".")
    literal = ip_literal(host)
    if literal is not None:
        if not policy.allows(literal):
            raise WebhookRefused(_not_public(host, literal))
        host = str(literal) if literal.version == 4 or literal.scope_id is None else host
    else:
        if (host in _LOCAL_NAMES or host.endswith(".localhost")) and host not in policy.hosts:
            raise WebhookRefused(
                f"the notification webhook's host {host} is this server itself; only public addresses "
                "are accepted (or what the operator lists in KYSO_WEBHOOK_ALLOW)"
            )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _not_public(host: str, address: Address) -> str:
    shown = host if host == str(address) else f"{host} ({address})"
    return (
        f"the notification webhook's address {shown} is not a public address; only public addresses "
        "are accepted (or what the operator lists in KYSO_WEBHOOK_ALLOW)"
    )


def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system resolver, as a connection would use it)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise ServiceError(
            Kind.UNAVAILABLE, f"the webhook's host {host} could not be resolved: {exc}"
        ) from exc
    return [str(info[4][0]) for info in found]


def destination(url: str, policy: WebhookPolicy) -> tuple[Target, str]:
    """The URL checked again, its host resolved, and the one address to connect to (every address the
    host resolves to is checked: one internal answer refuses the whole name)."""
    target = check_url(url, policy)
    literal = ip_literal(target.host)
    if literal is not None:
        if not policy.allows(literal):  # check_url did; kept next to the connection it guards
            raise WebhookRefused(_not_public(target.host, literal))
        return target, str(literal)
    addresses = []
    for text in _resolve(target.host, target.port)[:MAX_ADDRESSES]:
        address = ip_literal(text)
        if address is None:
            raise WebhookRefused(f"the webhook's host {target.host} resolves to {text!r}, not an address")
        if target.host not in policy.hosts and not policy.allows(address):
            raise WebhookRefused(_not_public(target.host, address))
        addresses.append(str(address))
    if not addresses:
        raise ServiceError(Kind.UNAVAILABLE, f"the webhook's host {target.host} has no address")
    return target, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever the host name would resolve to now."""

    def __init__(self, target: Target, address: str) -> None:
        super().__init__(target.host, target.port, timeout=TIMEOUT)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), TIMEOUT)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """The same over TLS; the certificate is checked against the URL's host name."""

    def __init__(self, target: Target, address: str) -> None:
        super().__init__(target.host, target.port, timeout=TIMEOUT, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), TIMEOUT)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, payload: str, policy: WebhookPolicy) -> None:
    """POST ``payload`` (JSON) to ``url``: once, to the checked address, no redirects, within DEADLINE."""
    target, address = destination(url, policy)
    connection = (_PinnedHTTPS if target.scheme == "https" else _PinnedHTTP)(target, address)
    timer = threading.Timer(DEADLINE, _abort, (connection,))
    timer.start()
    try:
        connection.request(
            "POST",
            target.path,
            body=payload.encode(),
            headers={"Content-Type": "application/json", "User-Agent": "Kyso", "Connection": "close"},
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        raise ServiceError(
            Kind.UNAVAILABLE, f"the webhook did not answer (within {DEADLINE:g} s): {exc}"
        ) from exc
    finally:
        timer.cancel()
        connection.close()
    if 300 <= status < 400:
        raise ServiceError(
            Kind.UNAVAILABLE, f"the webhook answered {status}, a redirect, which is not followed"
        )
    if not 200 <= status < 300:
        raise ServiceError(Kind.UNAVAILABLE, f"the webhook answered {status}")


def _abort(connection: http.client.HTTPConnection) -> None:
    """Wakes a connection stuck past the deadline (shutdown interrupts a blocked read; close does not)."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
