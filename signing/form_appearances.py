"""Form fields keep the look the official read: appearance streams for the values a viewer was asked to draw.

A form saved with ``/NeedAppearances true`` (LibreOffice does this) carries its text values without
appearance streams, or with empty ones: viewers draw them as they open the file. A signature must not let
viewers redraw the page after signing (Acrobat then reports the signed document as changed, and PDF/A
forbids the flag), so pyHanko clears the flag when it signs, and the values vanished from the page. Before
the signature is laid, each text or choice field whose appearance shows no text gets one, in the
signature's revision, drawn with Kyso's Vietnamese-capable font (the field's ``/DA`` names a font that
usually has no "ễ"): size, colour and alignment from the field, one line, or several for multi-line
fields. An appearance the author's tool drew (it shows text) is kept as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

pdf_name = generic.NameObject

_MULTILINE = 1 << 12
_PASSWORD = 1 << 13
_COMB = 1 << 24
_MAX_FIELDS = 5000
_PADDING = 2.0
_DEPTH = 32


def prepare_form_appearances(writer: IncrementalPdfFileWriter) -> int:
    """Draw the values of a form that asked viewers to; returns how many widgets got an appearance."""
    try:
        form = writer.root["/AcroForm"]
    except KeyError:
        return 0
    if not isinstance(form, generic.DictionaryObject) or not bool(form.get("/NeedAppearances", False)):
        return 0
    from signing.fonts import Face, StampFontEngine, load_font

    engine = StampFontEngine(writer, load_font(Face.REGULAR))
    drawn = 0
    for widget_ref, widget, field in _widgets(form.get("/Fields")):
        value = _value(field)
        if value is None or widget_ref is None:  # an object with no reference cannot be updated
            continue
        if _draws_text(widget):  # the author's tool drew the value already: keep its look
            continue
        stream = _appearance(engine, widget, field, value)
        if stream is None:
            continue
        widget[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(stream)})
        writer.mark_update(widget_ref)
        drawn += 1
    if drawn:
        engine.prepare_write()
    return drawn


def _draws_text(widget: generic.DictionaryObject) -> bool:
    """Whether the widget's normal appearance shows text already (an empty or missing one does not)."""
    try:
        normal = widget["/AP"]["/N"]
        if isinstance(normal, generic.DictionaryObject) and not isinstance(normal, generic.StreamObject):
            normal = normal.get(widget.get("/AS", "/Off"))  # per-state appearances (not text fields)
        data = normal.data if isinstance(normal, generic.StreamObject) else b""
    except (KeyError, TypeError, ValueError):
        return False
    return any(op in data for op in (b"Tj", b"TJ", b"'", b'"'))


class _Field(dict[str, object]):
    """The inheritable entries of a terminal field (/FT, /V, /DA, /Ff, /Q), from itself or its parents."""


def _widgets(
    fields: object, inherited: _Field | None = None, depth: int = 0
) -> Iterator[tuple[generic.IndirectObject | None, generic.DictionaryObject, _Field]]:
    if depth > _DEPTH or not isinstance(fields, generic.ArrayObject):
        return
    count = 0
    for ref in fields:
        count += 1
        if count > _MAX_FIELDS:
            return
        node = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
        if not isinstance(node, generic.DictionaryObject):
            continue
        own = _Field(inherited or {})
        for key in ("/FT", "/V", "/DA", "/Ff", "/Q", "/MaxLen"):
            if key in node:
                own[key] = node[key]
        kids = node.get("/Kids")
        if isinstance(kids, generic.ArrayObject) and any(
            isinstance(k.get_object(), generic.DictionaryObject) and "/T" in k.get_object() for k in kids
        ):
            yield from _widgets(kids, own, depth + 1)
        elif isinstance(kids, generic.ArrayObject):  # a field whose kids are its widgets
            for kid in kids:
                widget = kid.get_object()
                if isinstance(widget, generic.DictionaryObject):
                    owner = (
                        kid if isinstance(kid, generic.IndirectObject) else ref
                    )  # a direct widget: its field
                    yield (owner if isinstance(owner, generic.IndirectObject) else None), widget, own
        else:  # a field merged with its only widget
            yield (ref if isinstance(ref, generic.IndirectObject) else None), node, own


def _value(field: _Field) -> str | None:
    if field.get("/FT") not in ("/Tx", "/Ch"):
        return None
    value = field.get("/V")
    if isinstance(value, generic.ArrayObject):  # a list box with several choices: the first
        value = value[0] if len(value) else None
    if isinstance(value, generic.TextStringObject | generic.ByteStringObject):
        text = (
            value.original_bytes.decode("latin-1") if isinstance(value, generic.ByteStringObject) else value
        )
    elif isinstance(value, str):
        text = value
    else:
        return None
    text = unicodedata.normalize("NFC", str(text))
    if not text or _int(field, "/Ff") & _PASSWORD:
        return None
    return text


_DA_SIZE = re.compile(rb"([\d.]+)\s+Tf")
_DA_RGB = re.compile(rb"([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+rg")
_DA_GRAY = re.compile(rb"([\d.]+)\s+g(?:\s|$)")


def _appearance(
    engine: object, widget: generic.DictionaryObject, field: _Field, text: str
) -> generic.StreamObject | None:
    from signing.fonts import StampFontEngine

    assert isinstance(engine, StampFontEngine)
    rect = widget.get("/Rect")
    if not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
        return None
    x1, y1, x2, y2 = (float(v) for v in rect)
    width, height = abs(x2 - x1), abs(y2 - y1)
    if width < 1 or height < 1:
        return None
    da = field.get("/DA", b"")
    if isinstance(da, generic.TextStringObject):
        da_bytes = da.original_bytes
    else:
        da_bytes = bytes(da) if isinstance(da, bytes) else b""
    size_match = _DA_SIZE.search(da_bytes)
    size = float(size_match.group(1)) if size_match else 0.0
    multiline = bool(_int(field, "/Ff") & _MULTILINE) and not _int(field, "/Ff") & _COMB
    if size <= 0:  # auto size: as viewers do, the box's height (multi-line fields: 12 pt), then its width
        size = 12.0 if multiline else max(4.0, (height - 2 * _PADDING) * 0.8)
    colour = b"0 g"
    if rgb := _DA_RGB.search(da_bytes):
        colour = b"%s %s %s rg" % rgb.groups()
    elif gray := _DA_GRAY.search(da_bytes):
        colour = b"%s g" % gray.group(1)
    quadding = _int(field, "/Q")
    font = engine.font
    lines = _wrap(font, text, size, width - 2 * _PADDING) if multiline else [text.replace("\n", " ")]
    if not multiline:
        while size > 4 and font.advance(lines[0]) * size > width - 2 * _PADDING:
            size -= 0.5
    leading = size * 1.15
    ops = [b"/Tx BMC", b"q", b"%.2f %.2f %.2f %.2f re W n" % (1, 1, width - 2, height - 2), b"BT", colour]
    ops.append(b"/KysoF %.2f Tf" % size)
    # single-line fields are centred vertically, as viewers draw them
    y = height - _PADDING - size if multiline else (height - size * 0.72) / 2
    for line in lines:
        advance = font.advance(line) * size
        x = _PADDING
        if quadding == 1:
            x = (width - advance) / 2
        elif quadding == 2:
            x = width - _PADDING - advance
        ops.append(b"1 0 0 1 %.2f %.2f Tm" % (x, y))
        ops.append(engine.show(line, size))
        y -= leading
    ops += [b"ET", b"Q", b"EMC"]
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/KysoF"): engine.as_resource()})}
    )
    return generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, width, height)]),
            pdf_name("/Resources"): resources,
        },
        stream_data=b"\n".join(ops),
    )


def _int(field: _Field, key: str) -> int:
    value = field.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _wrap(font: object, text: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if current and font.advance(candidate) * size > width:  # type: ignore[attr-defined]
                lines.append(current)
                current = word
            else:
                current = candidate
        lines.append(current)
    return lines
