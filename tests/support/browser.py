"""Headless Chromium for the page tests: the Debian package (`chromium`), driven by Playwright for Python.

Playwright's own browser downloads are never used (no `playwright install`): ``launch`` points at
/usr/bin/chromium. Playwright gives each launch a fresh temporary profile (its own --user-data-dir).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import zxingcpp
from PIL import Image

CHROMIUM = os.environ.get("KYSO_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 780}
DESK_PC = {"width": 1280, "height": 800}
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def launch(playwright, *extra_args: str):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])


def fake_camera_args(y4m: Path) -> list[str]:
    return [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    ]


def write_y4m(picture: Image.Image, path: Path, size: tuple[int, int] = (640, 480), frames: int = 2) -> Path:
    """``picture`` centred on a white frame, as a YUV 4:2:0 .y4m video (luma only; chroma neutral)."""
    width, height = size
    frame = Image.new("L", size, 255)
    fitted = picture.convert("L")
    fitted.thumbnail((height - 40, height - 40), Image.NEAREST)
    frame.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return path


def decode_qr(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png)).convert("L")
    return [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def inline_scripts(html: str) -> list[str]:
    """Script tags without a src: the CSP would block them, so the pages must have none."""
    return [m.group(0) for m in SCRIPT_TAG.finditer(html) if "src=" not in m.group(1)]
