"""Identifiers drawn from a CSPRNG."""

from __future__ import annotations

import secrets
import uuid

from core.errors import malformed

SERIAL_BITS = 159  # 20 octets with the sign bit clear: RFC 5280 §4.1.2.2 maximum, far above 64 bits


def new_certificate_serial() -> int:
    """A positive serial with ``SERIAL_BITS`` bits of entropy; never zero."""
    while True:
        serial = secrets.randbits(SERIAL_BITS)
        if serial:
            return serial


def serial_hex(serial: int) -> str:
    """The canonical text form of a serial: lowercase hex, even length, no prefix."""
    text = format(serial, "x")
    return text if len(text) % 2 == 0 else "0" + text


def clean_serial_text(text: str) -> str:
    """Accepts the forms people paste: ``0A:1B``, ``0x0a1b``, ``0a1b``, with spaces; lowercase hex out."""
    cleaned = text.strip().lower().replace(":", "").replace(" ", "").removeprefix("0x")
    if not cleaned or len(cleaned) > 64 or any(c not in "0123456789abcdef" for c in cleaned):
        shown = text if len(text) <= 70 else text[:67] + "..."
        raise malformed(f"not a certificate serial number (hexadecimal expected): {shown!r}")
    return cleaned


def parse_serial(text: str) -> int:
    return int(clean_serial_text(text), 16)


def new_id() -> str:
    return uuid.uuid4().hex
