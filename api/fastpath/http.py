"""What the fast path's request parsers share: the bound on a request head, the hand-off sentinel and the
keep-alive rule of HTTP/1.x."""

from __future__ import annotations

MAX_HEAD = 8 * 1024  # a head longer than this is not an OCSP request or a check-in: uvicorn's business


class Foreign:
    """A request the connection handler leaves to the application (``api.fastpath.connection``)."""


FOREIGN = Foreign()


def keeps_alive(http_1_1: bool, connection: bytes) -> bool:
    """HTTP/1.1 stays open unless told to close; HTTP/1.0 closes unless told to stay (``connection``: the
    Connection header, lowercased)."""
    return b"close" not in connection if http_1_1 else b"keep-alive" in connection
