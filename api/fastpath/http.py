"""What the fast path's request parsers share: the bound on a request head, the one reading of its header
lines, the hand-off sentinel and the keep-alive rule of HTTP/1.x."""

from __future__ import annotations

import re

MAX_HEAD = 8 * 1024  # a head longer than this is not an OCSP request or a check-in: uvicorn's business


class Foreign:
    """A request the connection handler leaves to the application (``api.fastpath.connection``)."""


FOREIGN = Foreign()


def keeps_alive(http_1_1: bool, connection: bytes) -> bool:
    """HTTP/1.1 stays open unless told to close; HTTP/1.0 closes unless told to stay (``connection``: the
    Connection header, lowercased)."""
    return b"close" not in connection if http_1_1 else b"keep-alive" in connection


# One well-formed header line (RFC 9112 §5): CRLF, a token, a colon, optional whitespace, then visible
# characters, spaces and tabs up to the next CRLF. A line with a bare CR or LF, a NUL or another control
# byte, a space before the colon, or a folded continuation does not match.
_HEADER_LINE = re.compile(
    rb"\r\n([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*(?=\r\n)"
)


def header_lines(head: bytes) -> list[tuple[bytes, bytes]] | None:
    """(lower-case name, value without surrounding whitespace) of each header line of ``head`` — from the
    CRLF ending the request line to the CRLF ending the last header line — or None when any line is not a
    well-formed header line. Such a head is uvicorn's to refuse (400): were it read here, a line hidden from
    this reading (a Transfer-Encoding, say) could frame the request differently for uvicorn or a proxy."""
    lines = _HEADER_LINE.findall(head)
    if len(lines) != head.count(b"\r\n") - 1:
        return None
    return [(name.lower(), value) for name, value in lines]
