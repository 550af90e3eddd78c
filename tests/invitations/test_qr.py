"""QR codes Kyso renders decode with zbar's `zbarimg` and with zxing-cpp — also the way a desk sees them:
scaled down to 3 pixels per module, JPEG-compressed, slightly rotated (a phone held askew)."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from core.errors import Kind, ServiceError
from invitations import qr, token
from tests.conftest import run_tool
from tests.support.clock import upcoming
from tests.support.invitations import make_seal

SEAL = make_seal()
NOW = int(upcoming(8, 0).timestamp())  # 08:00 in Hồ Chí Minh City, inside the seal's validity


def typical_token(cccd: bool = True) -> str:
    claims = token.InvitationClaims(
        invitation_id="k7w3m9q2x4z8r6t1",
        venue="UBND-BT",
        guest_name="Nguyễn Thị Minh Khai",
        not_before=NOW,
        expires=NOW + 3 * 3600,
        token_id=b"\x01" * 8,
        cccd_hash=token.cccd_hash("k7w3m9q2x4z8r6t1", "079203001234") if cccd else None,
    )
    return token.encode(claims, SEAL)


TEXT = typical_token()
CODE = qr.render(TEXT)


def png_image(pixels_per_module: int = 8) -> Image.Image:
    return Image.open(io.BytesIO(CODE.png(pixels_per_module))).convert("L")


def scaled_to_3_pixels() -> Image.Image:
    big = png_image(10)
    side = (CODE.modules + 2 * qr.BORDER) * 3
    return big.resize((side, side), Image.Resampling.LANCZOS)


def jpeg(quality: int = 25) -> Image.Image:
    buffer = io.BytesIO()
    png_image(6).convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def rotated(degrees: float = 7) -> Image.Image:
    return png_image(8).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def all_three() -> Image.Image:
    """3 px/module, then rotated, then JPEG: the worst of them together."""
    small = scaled_to_3_pixels().rotate(4, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=40)
    return Image.open(io.BytesIO(buffer.getvalue()))


def svg_rasterised() -> Image.Image:
    """The SVG drawn by reading its path: each ``M x,y H… V… H… z`` is one dark module."""
    svg = CODE.svg().decode()
    side = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))  # type: ignore[union-attr]
    scale = 6
    image = Image.new("L", (side * scale, side * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in re.findall(r"M(\d+),(\d+)H", svg):
        draw.rectangle(
            [int(x) * scale, int(y) * scale, (int(x) + 1) * scale - 1, (int(y) + 1) * scale - 1], fill=0
        )
    return image


VARIANTS: dict[str, Callable[[], Image.Image]] = {
    "png 8 px/module": png_image,
    "scaled down to 3 px/module": scaled_to_3_pixels,
    "jpeg quality 25": jpeg,
    "rotated 7 degrees": rotated,
    "rotated -5 degrees": lambda: rotated(-5),
    "3 px/module, rotated 4 degrees, jpeg 40": all_three,
    "svg": svg_rasterised,
}


def test_the_qr_uses_level_q_and_the_smallest_version() -> None:
    # ~300 alphanumeric characters: version 12 at level Q (version 11-Q holds 259, 12-Q 296, 13-Q 352)
    assert 280 <= len(TEXT) <= 320
    assert CODE.version == 12
    assert CODE.modules == 17 + 4 * CODE.version
    assert qr.render(typical_token(cccd=False)).version <= 12
    smaller = qr.render(TEXT[:100])
    assert smaller.version < CODE.version


@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_zxing_cpp_reads_it(variant: str) -> None:
    found = zxingcpp.read_barcodes(VARIANTS[variant](), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [barcode.text for barcode in found] == [TEXT]


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools is not installed")
@pytest.mark.parametrize("variant", VARIANTS, ids=list(VARIANTS))
def test_zbarimg_reads_it(variant: str, tmp_path: Path) -> None:
    path = tmp_path / "scan.png"
    VARIANTS[variant]().save(path)
    result = run_tool("zbarimg", "--raw", "-q", path)
    assert result.stdout.strip() == TEXT


def test_read_finds_the_token_in_a_photo_and_nothing_in_a_blank_one() -> None:
    buffer = io.BytesIO()
    all_three().save(buffer, format="JPEG")
    assert qr.read(buffer.getvalue()) == [TEXT]
    blank = io.BytesIO()
    Image.new("RGB", (400, 300), (240, 240, 240)).save(blank, format="PNG")
    assert qr.read(blank.getvalue()) == []


def test_read_refuses_what_is_not_an_image_and_a_decompression_bomb() -> None:
    with pytest.raises(ServiceError) as caught:
        qr.read(b"%PDF-1.7 not an image")
    assert caught.value.kind is Kind.MALFORMED
    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, format="PNG")  # 64 megapixels in a few kilobytes
    with pytest.raises(ServiceError) as caught:
        qr.read(bomb.getvalue())
    assert caught.value.kind is Kind.TOO_LARGE
    with pytest.raises(ServiceError) as caught:
        qr.read(b"\x00" * (qr.MAX_IMAGE_BYTES + 1))
    assert caught.value.kind is Kind.TOO_LARGE
