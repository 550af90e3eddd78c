"""Vector drawing for stamps: QR codes as filled rectangles, circles and stars as paths (PDF operators).

Everything is opaque paths and fills, no images and no transparency groups: a seal drawn over an earlier
signature block stays sharp at any zoom, and prints the way it renders.
"""

from __future__ import annotations

import functools
import math
import re

import zxingcpp

_KAPPA = 0.5522847498  # Bézier handle length for a quarter circle
_DARK_RUN = re.compile(rb"\x00+")


@functools.lru_cache(maxsize=64)
def qr_modules(text: str) -> tuple[bytes, ...]:
    """The QR symbol (error correction M, no quiet zone) encoding ``text``: one row of bytes per module
    row, 0 for a dark module."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = memoryview(symbol.to_image(scale=1, add_quiet_zones=False))
    height, width = image.shape
    pixels = bytes(image)
    return tuple(pixels[row * width : (row + 1) * width] for row in range(height))


def qr_ops(text: str, x: float, y: float, size: float, *, quiet_modules: int = 3) -> bytes:
    """Fill a white ``size``×``size`` square at (x, y) and draw the QR symbol in it, in the current fill
    colour, leaving ``quiet_modules`` of quiet zone on each side. One rectangle per horizontal run."""
    modules = qr_modules(text)
    count = len(modules)
    module = size / (count + 2 * quiet_modules)
    # in module units, rows counted from the top: whole numbers are short to write and quick to format
    grid = b"%.4f 0 0 %.4f %.3f %.3f cm" % (
        module,
        -module,
        x + quiet_modules * module,
        y + size - quiet_modules * module,
    )
    rects = b" ".join(
        b"%d %d %d 1 re" % (run.start(), row, run.end() - run.start())
        for row, cells in enumerate(modules)
        for run in _DARK_RUN.finditer(cells)
    )
    white = b"q 1 1 1 rg %.3f %.3f %.3f %.3f re f Q" % (x, y, size, size)
    return b"%s q %s %s f Q" % (white, grid, rects)


def circle_path(cx: float, cy: float, r: float) -> bytes:
    k = _KAPPA * r
    return (
        b"%.3f %.3f m " % (cx + r, cy)
        + b"%.3f %.3f %.3f %.3f %.3f %.3f c " % (cx + r, cy + k, cx + k, cy + r, cx, cy + r)
        + b"%.3f %.3f %.3f %.3f %.3f %.3f c " % (cx - k, cy + r, cx - r, cy + k, cx - r, cy)
        + b"%.3f %.3f %.3f %.3f %.3f %.3f c " % (cx - r, cy - k, cx - k, cy - r, cx, cy - r)
        + b"%.3f %.3f %.3f %.3f %.3f %.3f c h" % (cx + k, cy - r, cx + r, cy - k, cx + r, cy)
    )


def star_path(cx: float, cy: float, r: float, *, points: int = 5, inner_ratio: float = 0.382) -> bytes:
    """A regular star with one point straight up (0.382: the five-pointed star's own proportion)."""
    corners = []
    for index in range(points * 2):
        radius = r if index % 2 == 0 else r * inner_ratio
        angle = math.pi / 2 + index * math.pi / points
        corners.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    path = [b"%.3f %.3f m" % corners[0]] + [b"%.3f %.3f l" % corner for corner in corners[1:]]
    return b" ".join(path) + b" h"
