"""Sample PDFs built by the tests themselves: A4 pages with a line of text, optionally a large payload."""

from __future__ import annotations

import os

A4 = (595, 842)


def sample_pdf(pages: int = 1, *, title: str = "Quyet dinh so 123/QD-UBND", payload_bytes: int = 0) -> bytes:
    """A valid, unsigned PDF 1.7 with ``pages`` A4 pages (Helvetica text) and an optional incompressible
    image-like stream of ``payload_bytes`` (to make large files without many pages)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    xobject = None
    if payload_bytes:
        data = os.urandom(payload_bytes)
        side = max(1, int((payload_bytes / 3) ** 0.5))
        xobject = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, len(data)) + data + b"\nendstream"
        )
    kids = []
    for number in range(1, pages + 1):
        text = f"{title} - trang {number}/{pages}".encode("latin-1", "replace")
        content = b"BT /F1 14 Tf 72 760 Td (%s) Tj ET" % text.replace(b"(", b"\\(").replace(b")", b"\\)")
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        resources = b"<< /Font << /F1 %d 0 R >> >>" % font
        if xobject is not None and number == 1:
            resources = b"<< /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >>" % (font, xobject)
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R /Resources %s >>"
                % (pages_obj, A4[0], A4[1], stream, resources)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        os.urandom(16).hex().encode(),
        os.urandom(16).hex().encode(),
        xref_at,
    )
    return bytes(out)
