"""What the fast path's routes share: the one reading of a request head (``read_head``, ``header_lines``),
its bound, the hand-off sentinel and the keep-alive rule of HTTP/1.x."""

from __future__ import annotations

import re
from typing import NamedTuple

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


class Head(NamedTuple):
    """The request line of a complete HTTP/1.x head at the start of a buffer, and where its parts end."""

    method: bytes
    path: bytes  # the raw request target without its query
    http_1_1: bool
    line_end: int  # the CRLF ending the request line
    end: int  # the CRLF CRLF ending the head; the body starts at end + 4

    def headers(self, buffer: bytes) -> list[tuple[bytes, bytes]] | None:
        """The head's header lines (``header_lines``), read only once a route wants them."""
        return header_lines(buffer[self.line_end : self.end + 2])


def read_head(buffer: bytes) -> Head | Foreign | None:
    """The head at the start of ``buffer``: None while it is incomplete, FOREIGN when it is not an
    HTTP/1.x request line under ``MAX_HEAD`` bytes (uvicorn's to answer or refuse)."""
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return None if len(buffer) < MAX_HEAD else FOREIGN
    line_end = buffer.find(b"\r\n", 0, end + 2)
    parts = buffer[:line_end].split(b" ")
    if len(parts) != 3:
        return FOREIGN
    method, target, version = parts
    if version != b"HTTP/1.1" and version != b"HTTP/1.0":
        return FOREIGN
    return Head(method, target.partition(b"?")[0], version == b"HTTP/1.1", line_end, end)
