"""QR codes for tokens: alphanumeric mode, error correction Q, the smallest version the text fits.

A typical invitation token (ES256, a 16-character id, a 20-character Vietnamese name, a CCCD hash) is
about 300 characters and needs version 12 (65×65 modules); without a CCCD, version 11. Level Q restores
up to 25 % damaged codewords: a cracked phone screen or a glare spot still scans.

Reading (desk photos, ``kyso invite check --image``) uses zxing-cpp on a Pillow image.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
import zxingcpp
from PIL import Image, UnidentifiedImageError

from core.errors import Kind, ServiceError

BORDER = 4  # modules of quiet zone, as ISO/IEC 18004 asks
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # a 12-megapixel phone photo is far below; a decompression bomb is not


@dataclass(frozen=True)
class QrCode:
    text: str
    version: int
    modules: int  # per side, without the quiet zone

    def png(self, pixels_per_module: int = 8) -> bytes:
        image = _matrix(self.text, pixels_per_module).make_image()
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    def matrix(self) -> list[list[bool]]:
        """The modules, quiet zone included, top row first (True is dark)."""
        return _matrix(self.text, 1).get_matrix()

    def svg(self) -> bytes:
        image = _matrix(self.text, 10).make_image(image_factory=qrcode.image.svg.SvgPathImage)
        return image.to_string(encoding="unicode").encode()


def _matrix(text: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, box_size=box_size, border=BORDER)
    code.add_data(qrcode.util.QRData(text, mode=qrcode.util.MODE_ALPHA_NUM))
    code.make(fit=True)
    return code


def render(text: str) -> QrCode:
    """Fit ``text`` (characters of the QR alphanumeric set: what base45 and our prefixes produce)."""
    code = _matrix(text, 1)
    return QrCode(text, code.version, code.modules_count)


def read(image_bytes: bytes) -> list[str]:
    """The texts of every QR code in a photo or scan (PNG, JPEG…); empty when there is none.

    Raises MALFORMED for something that is not an image, TOO_LARGE for an oversized one.
    """
    if len(image_bytes) > MAX_IMAGE_BYTES:
        raise ServiceError(Kind.TOO_LARGE, f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ServiceError(Kind.TOO_LARGE, "the image has too many pixels; send a smaller photo")
            image.load()
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ServiceError(Kind.MALFORMED, f"not a readable image: {exc}") from None
    return [barcode.text for barcode in zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormat.QRCode)]
