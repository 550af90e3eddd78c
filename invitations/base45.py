"""Base45 (RFC 9285): binary data as text in the QR alphanumeric character set.

Two bytes become three characters (one byte at the end becomes two), so a QR code in alphanumeric
mode (5.5 bits per character) carries about as much as byte mode would, but only with characters every
scanner returns unchanged.
"""

from __future__ import annotations

import struct

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 255
_TABLE = bytes(ALPHABET.index(chr(i)) if chr(i) in ALPHABET else _INVALID for i in range(256))


class Base45Error(ValueError):
    """The text is not base45: a character outside the alphabet, a bad length or a value over 0xFFFF."""


def encode(data: bytes) -> str:
    chars: list[str] = []
    for index in range(0, len(data) - 1, 2):
        value = data[index] * 256 + data[index + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        chars += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        chars += (ALPHABET[c], ALPHABET[d])
    return "".join(chars)


def decode(text: str) -> bytes:
    try:
        values = text.encode("ascii").translate(_TABLE)
    except UnicodeEncodeError:
        raise Base45Error("base45 text is ASCII only") from None
    if _INVALID in values:
        bad = text[values.index(_INVALID)]
        raise Base45Error(f"character {bad!r} is not in the base45 alphabet")
    if len(values) % 3 == 1:
        raise Base45Error("base45 text cannot have a length of 3n+1")
    # whole triples at C speed: zip the three digit streams, then pack the 16-bit values big-endian
    full = len(values) - len(values) % 3
    words = [
        a + b * 45 + c * 2025
        for a, b, c in zip(values[0:full:3], values[1:full:3], values[2:full:3], strict=True)
    ]
    try:
        out = struct.pack(f">{len(words)}H", *words)
    except struct.error:  # a word over 0xFFFF
        raise Base45Error("a base45 triple encodes more than two bytes") from None
    if full < len(values):
        value = values[full] + values[full + 1] * 45
        if value > 0xFF:
            raise Base45Error("the final base45 pair encodes more than one byte")
        out += bytes((value,))
    return out
