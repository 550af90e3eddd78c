"""Visible signatures after Decree 30/2020/ND-CP (Appendix I): the official's blue signature block, the
agency's red seal over the left third of it, and the text-only block at the top right of attachments.

pyHanko draws the appearance while it signs: ``PdfSigner(stamp_style=stamp_style(content))`` with a field
at ``stamp_box(kind, page_width, page_height)``. The displayed time is the signing session's own time
(the /M of the signature, the time in the CMS), shown as ISO 8601 in Vietnam's time, +07:00.
"""

from __future__ import annotations

import enum
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, TextStampStyle

from core.errors import Kind, ServiceError
from signing.fonts import Face, StampFontEngine, load_font
from signing.stamp_art import circle_path, qr_ops, star_path
from signing.stamp_layout import Field, block_height, fit, font_height

VIETNAM_TIME = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh: no daylight saving since 1975
BLUE = (0.0, 0.0, 0.8)
RED = (0.85, 0.0, 0.0)
BLACK = (0.0, 0.0, 0.0)
MM = 72 / 25.4

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in PDF points, origin at the page's lower left

# Sizes on the page. The seal has the size of a ward People's Committee's round seal (35 mm).
OFFICIAL_SIZE = (330.0, 90.0)
SEAL_DIAMETER = 35 * MM
ATTACHMENT_SIZE = (215.0, 40.0)
MARGIN_RIGHT = 20 * MM  # Decree 30 Appendix I: right margin 15-20 mm
MARGIN_BOTTOM = 20 * MM
MARGIN_TOP_ATTACHMENT = 6 * MM  # in the top margin (20-25 mm), clear of the attachment's own text

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # how pyHanko hands the session time over (see StampStyle)
_MAX_TEXT = 300
_MAX_URL = 512


class StampKind(enum.StrEnum):
    OFFICIAL = "official"
    SEAL = "seal"
    ATTACHMENT = "attachment"


def _parse_kind(value: str) -> StampKind:
    try:
        return StampKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in StampKind)
        raise ServiceError(Kind.MALFORMED, f"unknown stamp kind {value!r}; choose one of {kinds}") from None


@dataclass(frozen=True)
class StampContent:
    """What a stamp shows. Text is kept in NFC with single spaces; every character must be in the font."""

    kind: str
    signer_name: str = ""
    title: str = ""
    agency: str = ""
    document_number: str = ""
    verify_url: str | None = None

    def __post_init__(self) -> None:
        kind = _parse_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        for name in ("signer_name", "title", "agency", "document_number"):
            object.__setattr__(self, name, _clean_text(name, getattr(self, name)))
        required = {
            StampKind.OFFICIAL: ("signer_name",),  # a citizen has no agency, and may have no title
            StampKind.SEAL: ("agency",),
            StampKind.ATTACHMENT: ("document_number",),
        }[kind]
        for name in required:
            if not getattr(self, name):
                raise ServiceError(Kind.MALFORMED, f"a {kind} stamp needs {name.replace('_', ' ')}")
        if self.verify_url is not None:
            _check_url(self.verify_url)


def _clean_text(name: str, value: str) -> str:
    text = " ".join(unicodedata.normalize("NFC", value or "").split())
    if len(text) > _MAX_TEXT:
        raise ServiceError(Kind.MALFORMED, f"{name.replace('_', ' ')} is longer than {_MAX_TEXT} characters")
    if any(unicodedata.category(char).startswith("C") for char in text):
        raise ServiceError(Kind.MALFORMED, f"{name.replace('_', ' ')} contains control characters")
    for face in (Face.REGULAR, Face.BOLD):
        missing = load_font(face).missing(text.upper() + text)
        if missing is not None:
            raise ServiceError(
                Kind.MALFORMED,
                f"{name.replace('_', ' ')}: the stamp font cannot show {missing!r} (U+{ord(missing):04X})",
            )
    return text


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > _MAX_URL or not url.isascii():
        raise ServiceError(
            Kind.MALFORMED, f"verify_url must be an http(s) URL of at most {_MAX_URL} ASCII characters"
        )
    if re.search(r"\s", url):
        raise ServiceError(Kind.MALFORMED, "verify_url must not contain spaces")


def display_time(moment: datetime) -> str:
    """ISO 8601 in Vietnam's time to the second, e.g. 2026-11-23T09:15:02+07:00, whatever the host's zone."""
    return moment.astimezone(VIETNAM_TIME).replace(microsecond=0).isoformat()


def stamp_style(content: StampContent) -> StampStyle:
    """The pyHanko stamp style that draws ``content``; one per signature (it carries the content)."""
    return StampStyle(content=content)


def stamp_box(kind: str, page_width: float, page_height: float, *, over: Box | None = None) -> Box:
    """Where a stamp of ``kind`` goes on a page of that size.

    official: bottom right, inside the margins (where the signature sits under the signer's title);
    seal: a circle whose right edge is one third into the official's block (``over``, by default where
    ``stamp_box("official", …)`` puts it), centred on it vertically; attachment: top right, in the margin.
    """
    stamp_kind = _parse_kind(kind)
    if page_width <= 0 or page_height <= 0:
        raise ServiceError(Kind.MALFORMED, "page size must be positive")
    if stamp_kind is StampKind.SEAL:
        x1, y1, x2, y2 = over if over is not None else stamp_box("official", page_width, page_height)
        diameter = min(SEAL_DIAMETER, page_width, page_height)
        right = x1 + (x2 - x1) / 3
        left = min(max(0.0, right - diameter), page_width - diameter)
        bottom = min(max(0.0, (y1 + y2) / 2 - diameter / 2), page_height - diameter)
        return _rounded((left, bottom, left + diameter, bottom + diameter))
    width, height = OFFICIAL_SIZE if stamp_kind is StampKind.OFFICIAL else ATTACHMENT_SIZE
    margin = min(MARGIN_RIGHT, page_width * 0.1)  # small pages keep proportionate margins
    width = min(width, page_width - 2 * margin)  # narrow pages: a narrower block, the text shrinks to fit
    height = min(height, page_height / 4)
    right = page_width - margin
    if stamp_kind is StampKind.OFFICIAL:
        bottom = min(MARGIN_BOTTOM, page_height * 0.1)
    else:
        bottom = page_height - min(MARGIN_TOP_ATTACHMENT, page_height * 0.03) - height
    return _rounded((right - width, bottom, right, bottom + height))


def _rounded(box: Box) -> Box:
    x1, y1, x2, y2 = box
    return (round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2))


@dataclass(frozen=True)
class StampStyle(TextStampStyle):
    """A pyHanko stamp style for one stamp.

    It extends TextStampStyle only because pyHanko hands the signing session's time to text styles alone
    (formatted with ``timestamp_format``); the format keeps the offset, so the exact instant is recovered.
    """

    content: StampContent | None = None
    timestamp_format: str = _TS_FORMAT
    border_width: int = 0

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict) -> Stamp:
        if self.content is None:
            raise ServiceError(Kind.INTERNAL, "a stamp style needs its content")
        return Stamp(writer, self, box, _session_time(text_params))


def _session_time(text_params: dict) -> datetime:
    raw = text_params.get("ts")
    if raw is None:
        raise ServiceError(Kind.INTERNAL, "pyHanko did not pass the signing time to the stamp")
    try:
        return datetime.strptime(raw, _TS_FORMAT)
    except ValueError:  # a naive session time has no %z: it is the host's local time, as pyHanko takes it
        return datetime.strptime(raw, _TS_FORMAT.removesuffix("%z"))


class Stamp(BaseStamp):
    """The appearance stream of one signature widget."""

    def __init__(
        self, writer: BasePdfFileWriter, style: StampStyle, box: layout.BoxConstraints, when: datetime
    ):
        super().__init__(writer, style, box)
        self.content: StampContent = style.content  # type: ignore[assignment]
        self.when = when
        self._fonts: dict[Face, tuple[bytes, StampFontEngine]] = {}

    def _render_inner_content(self) -> list[bytes]:
        width, height = self.box.width, self.box.height
        draw = {
            StampKind.OFFICIAL: _draw_official,
            StampKind.SEAL: _draw_seal,
            StampKind.ATTACHMENT: _draw_attachment,
        }[self.content.kind]
        return [b"0 0 %.3f %.3f re W n" % (width, height), *draw(self, width, height)]

    def as_form_xobject(self) -> generic.StreamObject:
        xobject = super().as_form_xobject()
        xobject.compress()
        return xobject

    def font(self, face: Face) -> tuple[bytes, StampFontEngine]:
        if face not in self._fonts:
            engine = StampFontEngine(self.writer, load_font(face))
            name = "/Kyso" + face.name.title().replace("_", "")
            self.set_resource(ResourceType.FONT, generic.NameObject(name), engine.as_resource())
            self._fonts[face] = (name.encode("ascii"), engine)
        return self._fonts[face]

    def text(self, text: str, face: Face, size: float, matrix: tuple[float, ...]) -> bytes:
        name, engine = self.font(face)
        return b"%s %.3f Tf %.4f %.4f %.4f %.4f %.3f %.3f Tm %s" % (
            name,
            size,
            *matrix,
            engine.show(text, size),
        )


def _draw_fields(
    stamp: Stamp, fields: list[Field], x: float, y: float, width: float, height: float, color
) -> list[bytes]:
    lines = fit(fields, width, height)
    font = load_font(Face.BOLD)  # the taller of the two faces sets the line height
    top = y + (height + block_height(lines)) / 2
    ops = [b"BT %.3f %.3f %.3f rg" % color]
    for line in lines:
        baseline = top - font.ascent * line.size
        for piece in line.pieces:
            ops.append(stamp.text(piece.text, piece.face, piece.size, (1, 0, 0, 1, x + piece.x, baseline)))
        top = baseline - font.descent * line.size
    ops.append(b"ET")
    return ops


def _draw_official(stamp: Stamp, width: float, height: float) -> list[bytes]:
    """Signature area (the left third, where the seal goes), the signer's details, the QR code."""
    content = stamp.content
    pad = min(6.0, height * 0.08, width * 0.03)
    stroke = 0.9
    ops = [
        b"q %.3f %.3f %.3f RG %.2f w %.3f %.3f %.3f %.3f re S Q"
        % (*BLUE, stroke, stroke / 2, stroke / 2, width - stroke, height - stroke)
    ]
    details_right = width - pad
    if content.verify_url:
        size = min(height - 2 * pad, width * 0.25, 64.0)
        qr_x = width - pad / 2 - size
        qr = qr_ops(content.verify_url, qr_x, (height - size) / 2, size)
        ops.append(b"q %.3f %.3f %.3f rg %s Q" % (*BLUE, qr))
        details_right = qr_x - 2
    third = width / 3
    ops += _draw_signature(stamp, content.signer_name, pad, pad, third - 2 * pad, height - 2 * pad)
    fields = [Field("Người ký", content.signer_name, Face.BOLD, 9.5)]
    if content.title:
        fields.append(Field("Chức vụ", content.title, size=8.5))
    if content.agency:
        fields.append(Field("Cơ quan", content.agency, size=8.5))
    fields.append(Field("Ký lúc", display_time(stamp.when), size=8.5))
    ops += _draw_fields(stamp, fields, third, pad, details_right - third, height - 2 * pad, BLUE)
    return ops


def _draw_signature(stamp: Stamp, name: str, x: float, y: float, width: float, height: float) -> list[bytes]:
    """The name in a slanted face over a signing line: the place of the handwritten signature image."""
    font = load_font(Face.SEMIBOLD_ITALIC)
    inset = width * 0.08
    field = Field("", name, Face.SEMIBOLD_ITALIC, 14.0)
    lines = fit([field], width - 2 * inset, height * 0.55, unwrapped_down_to=0.65)
    size = lines[0].size
    line_y = y + height * 0.3
    ops = [
        b"q %.3f %.3f %.3f RG 0.6 w %.3f %.3f m %.3f %.3f l S Q"
        % (*BLUE, x + inset, line_y, x + width - inset, line_y)
    ]
    baseline = line_y + font.descent * size + 1.5 + (len(lines) - 1) * size * font_height(font)
    ops.append(b"BT %.3f %.3f %.3f rg" % BLUE)
    for line in lines:
        text = line.pieces[0].text
        left = x + (width - font.advance(text) * size) / 2
        ops.append(stamp.text(text, Face.SEMIBOLD_ITALIC, size, (1, 0, 0, 1, left, baseline)))
        baseline -= size * font_height(font)
    ops.append(b"ET")
    return ops


def _draw_attachment(stamp: Stamp, width: float, height: float) -> list[bytes]:
    content = stamp.content
    fields = [Field("Văn bản số", content.document_number, Face.BOLD, 9.5)]
    if content.agency:
        fields.append(Field("Cơ quan", content.agency, size=9.5))
    fields.append(Field("Thời gian ký", display_time(stamp.when), size=9.5))
    pad = min(2.0, height * 0.05)
    return _draw_fields(stamp, fields, pad, pad, width - 2 * pad, height - 2 * pad, BLACK)


def _draw_seal(stamp: Stamp, width: float, height: float) -> list[bytes]:
    """A round seal: two rings; the agency's name in capitals around the top, the signing time around the
    bottom, a star either side; a star in the middle (where a state seal bears the national emblem)."""
    content = stamp.content
    diameter = min(width, height)
    cx, cy = width / 2, height / 2
    outer_stroke, inner_stroke = diameter * 0.025, diameter * 0.009
    outer = diameter / 2 - outer_stroke / 2 - diameter * 0.005
    inner = outer - diameter * 0.17
    band = (inner + inner_stroke / 2 + diameter * 0.012, outer - outer_stroke / 2 - diameter * 0.012)
    middle = (outer + inner) / 2
    star = diameter * 0.03
    name, time = content.agency.upper(), display_time(stamp.when)
    font = load_font(Face.BOLD)
    # One size for both texts: as large as the band allows, and small enough that the two, with room for
    # a star between their ends on either side, go round the ring once.
    gap = 2 * star + diameter * 0.05
    size = (band[1] - band[0]) / (font.ascent + font.descent)
    for _ in range(3):
        radius = band[0] + font.descent * size  # the shorter of the two baselines
        size = min(size, (2 * math.pi * radius - 2 * gap) / (_ring_em(name) + _ring_em(time)))
    top_end = math.pi / 2 - _ring_em(name) * size / _ring_radius(band, size, top=True) / 2
    bottom_start = -math.pi / 2 + _ring_em(time) * size / _ring_radius(band, size, top=False) / 2
    star_angle = (top_end + bottom_start) / 2  # the right-hand star; the left one mirrors it
    ops = [
        b"q %.3f %.3f %.3f RG %.3f %.3f %.3f rg" % (*RED, *RED),
        b"%.3f w %s S" % (outer_stroke, circle_path(cx, cy, outer)),
        b"%.3f w %s S" % (inner_stroke, circle_path(cx, cy, inner)),
        star_path(cx, cy, inner * 0.4) + b" f",
        star_path(cx + middle * math.cos(star_angle), cy + middle * math.sin(star_angle), star) + b" f",
        star_path(cx - middle * math.cos(star_angle), cy + middle * math.sin(star_angle), star) + b" f",
    ]
    ops += _ring_text(stamp, name, cx, cy, band, size, top=True)
    ops += _ring_text(stamp, time, cx, cy, band, size, top=False)
    ops.append(b"Q")
    return ops


_TRACKING = 0.04  # em added between letters on the ring


def _ring_em(text: str) -> float:
    font = load_font(Face.BOLD)
    return font.advance(text) + _TRACKING * (len(text) - 1)


def _ring_radius(band: tuple[float, float], size: float, *, top: bool) -> float:
    """The baseline radius that centres capitals in the band, keeping marks above and dots below inside."""
    font = load_font(Face.BOLD)
    low, high = band
    cap = 0.66 * size
    if top:  # letters stand outwards: the baseline is the inner edge of the capitals
        return min(max((low + high - cap) / 2, low + font.descent * size), high - font.ascent * size)
    return max(min((low + high + cap) / 2, high - font.descent * size), low + font.ascent * size)


def _ring_text(
    stamp: Stamp, text: str, cx: float, cy: float, band: tuple[float, float], size: float, *, top: bool
) -> list[bytes]:
    """``text`` centred on the top (clockwise, letters' tops outwards) or the bottom (counter-clockwise,
    tops inwards) of the band between two radii, read left to right either way."""
    font = load_font(Face.BOLD)
    radius = _ring_radius(band, size, top=top)
    sweep = _ring_em(text) * size / radius
    direction = -1 if top else 1  # clockwise along the top, counter-clockwise along the bottom
    angle = (math.pi / 2 if top else -math.pi / 2) - direction * sweep / 2
    ops = [_actual_text_begin(text), b"BT"]
    for char in text:
        advance = font.advance(char) * size
        centre = angle + direction * advance / 2 / radius
        tangent = (-direction * math.sin(centre), direction * math.cos(centre))
        up = (-tangent[1], tangent[0])
        x = cx + radius * math.cos(centre) - tangent[0] * advance / 2
        y = cy + radius * math.sin(centre) - tangent[1] * advance / 2
        if char != " ":
            ops.append(stamp.text(char, Face.BOLD, size, (*tangent, *up, x, y)))
        angle += direction * (advance + _TRACKING * size) / radius
    ops += [b"ET", b"EMC"]
    return ops


def _actual_text_begin(text: str) -> bytes:
    """Marked content telling text extraction what a run of separately placed letters reads as."""
    out = io.BytesIO()
    generic.DictionaryObject(
        {generic.NameObject("/ActualText"): generic.TextStringObject(text)}
    ).write_to_stream(out)
    return b"/Span " + out.getvalue() + b" BDC"
