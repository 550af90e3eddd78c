"""Is a production master key random enough? It must carry at least 32 random bytes (256 bits).

A key is text (a secrets file, an environment variable) and is fed as such to HKDF, so what it carries
is bounded by its length and alphabet: a hex key carries 4 bits a character, a base64 (or base64url) key
6, any other text at most log2(95) (printable ASCII). A key short of 32 bytes that way is refused. One
long enough must also look random: a generated key uses most of its alphabet, spreads its characters
about evenly, and practically never repeats 8 characters or runs 9 in sequence; a typed one (``aaaa…``,
``changeme`` again and again, ``0123456789abcdef`` four times, ``abc…xyz``) does not. Those checks
refuse a key made by ``secrets.token_urlsafe(48)``, ``openssl rand -hex 32`` or
``openssl rand -base64 32`` with a probability far below one in a million.
"""

from __future__ import annotations

import math
import string
from collections import Counter

MIN_BYTES = 32
KNOWN_DEFAULTS = frozenset({"", "changeme", "change-me", "kyso", "secret", "default", "dev", "password"})
GENERATE = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/-_")
_PRINTABLE = 95
_REPEAT = 8  # a substring this long seen twice
_SEQUENCE = 9  # this many characters with the same step between neighbours (aaaaaaaaa, abcdefghi, 13579…)


def weakness(key: str) -> str | None:
    """Why ``key`` cannot be a production master key (a phrase that never quotes the key), or None."""
    if key.strip().lower() in KNOWN_DEFAULTS:
        return "it is missing or a known default" if key.strip() else "it is missing"
    text = key.rstrip("=")  # base64 padding carries nothing
    if all(c in _HEX for c in text):
        alphabet, kind = 16, "hex"
    elif all(c in _BASE64 for c in text):
        alphabet, kind = 64, "base64"
    else:
        alphabet, kind = _PRINTABLE, "text"
    carried = len(text) * math.log2(alphabet) / 8
    if carried < MIN_BYTES:
        return f"its {len(text)} {kind} characters carry at most {math.floor(carried)} bytes"
    counts = Counter(text)
    room = min(alphabet, len(text))
    if len(counts) * 3 < room:
        return f"it uses only {len(counts)} different characters"
    shannon = -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
    if shannon < 0.75 * math.log2(room):
        return "some characters recur far more often than in a random key"
    seen: set[str] = set()
    for start in range(len(text) - _REPEAT + 1):
        part = text[start : start + _REPEAT]
        if part in seen:
            return f"it repeats a run of {_REPEAT} characters"
        seen.add(part)
    run = 2
    for i in range(2, len(text)):
        run = run + 1 if ord(text[i]) - ord(text[i - 1]) == ord(text[i - 1]) - ord(text[i - 2]) else 2
        if run >= _SEQUENCE:
            return f"it counts {_SEQUENCE} characters up or down in even steps"
    return None
