"""The QR code printed on a chip-based CCCD card, read beside the pass to check the guest is the invitee.

Its text is ``CCCD|old CMND|full name|date of birth ddmmyyyy|sex|address|issue date ddmmyyyy``, e.g.
``079203001234|025123456|Nguyễn Văn An|01012003|Nam|12 Lê Lợi, Bến Thành, TP. Hồ Chí Minh|15082021``.
Only the number is used: it is hashed the way the invitation's CCCD was and compared.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from core.errors import malformed
from core.vn_ids import parse_cccd

MAX_TEXT = 1000


@dataclass(frozen=True)
class CardQr:
    cccd: str
    name: str | None


def parse(text: str) -> CardQr:
    """The card's number (validated) and name; MALFORMED when the text is not a CCCD card's QR."""
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise malformed("not the QR code of a CCCD card")
    fields = text.split("|")
    number = fields[0]
    if len(fields) < 3 or not (len(number) == 12 and number.isascii() and number.isdigit()):
        raise malformed("not the QR code of a CCCD card (it starts with the 12-digit number and '|')")
    parse_cccd(number)
    name = unicodedata.normalize("NFC", fields[2]).strip() or None
    return CardQr(number, name)
