"""The stamp font: Source Sans Pro (SIL OFL 1.1, from the ``font-source-sans-pro`` package), loaded once per
process and embedded in PDFs as subset CID-keyed TrueType fonts.

pyHanko's ``GlyphAccumulatorFactory`` opens and parses the font file for every appearance and subsets that
parsed copy in place, and fontTools decompiles GPOS/GSUB to do it: about 250 ms per font per signature.
Here each font file is read once; shaping uses one shared HarfBuzz font (read-only, so any number of
documents and threads can share it), and the embedded subset programs are cached by glyph set: a stamp
for a signer seen before embeds a subset built earlier, and a new one costs ~40 ms (the layout tables,
useless in a PDF, are dropped before fontTools looks at them).
"""

from __future__ import annotations

import enum
import functools
import io
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import font_source_sans_pro
import uharfbuzz as hb
from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory, ShapeResult
from pyhanko.pdf_utils.writer import BasePdfFileWriter

pdf_name = generic.NameObject

# Always part of a subset, so that the signing time, numbers and labels never change which subset a stamp
# needs: the subset cache then hits for every signature by the same person.
_ALWAYS_EMBEDDED = "0123456789 -:+/.,()TZ" + "NgườiýChứcvụCơquanThờigiankýVănbảnsốKlúc"
VIETNAMESE_LETTERS = "".join(
    upper + upper.lower()
    for upper in "AÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬBCDĐEÈÉẺẼẸÊỀẾỂỄỆGHIÌÍỈĨỊKLMNOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢPQRSTUÙÚỦŨỤƯỪỨỬỮỰVXYỲÝỶỸỴ"
)
_LAYOUT_TABLES = ("GPOS", "GSUB", "GDEF", "BASE", "DSIG", "JSTF")


class Face(enum.Enum):
    REGULAR = "SourceSansPro-Regular.ttf"
    BOLD = "SourceSansPro-Bold.ttf"
    SEMIBOLD_ITALIC = "SourceSansPro-SemiboldIt.ttf"

    @property
    def path(self) -> Path:
        return Path(font_source_sans_pro.font_directory) / self.value


@dataclass(frozen=True)
class Glyph:
    gid: int
    cluster: int  # index of the first character of the text it renders
    x_advance: int  # font units, as shaped (kerning included)
    x_offset: int
    y_offset: int


@dataclass(frozen=True)
class Shaped:
    """A string shaped once per process: its glyphs, width, what each glyph reads as, and (unless some
    glyph is raised, which depends on the size) its TJ operators, the same at every size."""

    glyphs: tuple[Glyph, ...]
    advance: float  # em
    unicode: tuple[tuple[int, str], ...]  # glyph id → the text it stands for, for the ToUnicode map
    operators: bytes | None


@dataclass(frozen=True, eq=False)
class LoadedFont:
    """One font file, parsed once; nothing here changes after loading."""

    face: Face
    data: bytes
    hb_font: hb.Font
    postscript_name: str
    units_per_em: int
    advances: tuple[int, ...]  # by glyph id, font units
    cmap: Mapping[int, int]  # code point → glyph id
    codepoints_by_gid: Mapping[int, tuple[int, ...]]
    ascent: float  # em, above the baseline (the tallest Vietnamese capital fits under it)
    descent: float  # em, below the baseline, positive
    descriptor: Mapping[str, object]

    @property
    def flags(self) -> int:
        """FontDescriptor /Flags: symbolic (glyphs are addressed by CID), and italic when slanted."""
        return 4 | (64 if self.descriptor["/ItalicAngle"] else 0)

    def missing(self, text: str) -> str | None:
        """The first character of ``text`` the font has no glyph for, or None."""
        for char in text:
            if ord(char) not in self.cmap and not unicodedata.category(char).startswith("Z"):
                return char
        return None

    def shape(self, text: str) -> Shaped:
        return _shape(self.face, text)

    def advance(self, text: str) -> float:
        """Width of ``text`` in em."""
        return _shape(self.face, text).advance


@functools.cache
def load_font(face: Face) -> LoadedFont:
    data = face.path.read_bytes()
    tt = ttLib.TTFont(io.BytesIO(data))
    glyph_order = tt.getGlyphOrder()
    gid_of = {name: gid for gid, name in enumerate(glyph_order)}
    cmap = {cp: gid_of[name] for cp, name in tt.getBestCmap().items()}
    codepoints: dict[int, list[int]] = {}
    for cp, gid in cmap.items():
        codepoints.setdefault(gid, []).append(cp)
    hmtx = tt["hmtx"].metrics
    upem = tt["head"].unitsPerEm
    hhea, head, os2 = tt["hhea"], tt["head"], tt["OS/2"]
    per_mille = 1000 / upem
    descriptor = {
        "/Ascent": round(hhea.ascent * per_mille),
        "/Descent": round(hhea.descent * per_mille),
        "/CapHeight": round(getattr(os2, "sCapHeight", 700) * per_mille),
        "/StemV": int(10 + 220 * (os2.usWeightClass - 50) / 900),
        "/ItalicAngle": float(getattr(tt["post"], "italicAngle", 0)),
        "/FontBBox": [round(v * per_mille) for v in (head.xMin, head.yMin, head.xMax, head.yMax)],
    }
    glyf = tt["glyf"]
    outlines = [glyf[glyph_order[cmap[ord(char)]]] for char in VIETNAMESE_LETTERS + "Qgjpy|"]
    top = max(hhea.ascent, *(getattr(glyph, "yMax", 0) for glyph in outlines))
    bottom = min(hhea.descent, *(getattr(glyph, "yMin", 0) for glyph in outlines))
    name = tt["name"].getDebugName(6)
    if not name:  # pragma: no cover - every packaged face has one
        raise RuntimeError(f"{face.value} has no PostScript name")
    return LoadedFont(
        face=face,
        data=data,
        hb_font=hb.Font(hb.Face(data)),
        postscript_name=name,
        units_per_em=upem,
        advances=tuple(hmtx[name][0] for name in glyph_order),
        cmap=cmap,
        codepoints_by_gid={gid: tuple(cps) for gid, cps in codepoints.items()},
        ascent=top / upem,
        descent=-bottom / upem,
        descriptor=descriptor,
    )


@functools.lru_cache(maxsize=4096)
def _shape(face: Face, text: str) -> Shaped:
    font = load_font(face)
    if not text:
        return Shaped((), 0.0, (), b"")  # HarfBuzz gives no positions at all for an empty buffer
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font.hb_font, buffer, None)
    glyphs = tuple(
        Glyph(info.codepoint, info.cluster, pos.x_advance, pos.x_offset, pos.y_offset)
        for info, pos in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True)
    )
    raised = any(glyph.y_offset for glyph in glyphs)
    return Shaped(
        glyphs=glyphs,
        advance=sum(glyph.x_advance for glyph in glyphs) / font.units_per_em,
        unicode=_unicode_of(font, text, glyphs),
        operators=None if raised else _text_operators(font, glyphs, 0.0),
    )


def _unicode_of(font: LoadedFont, text: str, glyphs: tuple[Glyph, ...]) -> tuple[tuple[int, str], ...]:
    clusters: dict[int, list[int]] = {}
    for glyph in glyphs:
        clusters.setdefault(glyph.cluster, []).append(glyph.gid)
    starts = sorted(clusters)
    pairs: list[tuple[int, str]] = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        gids = [gid for gid in clusters[start] if gid]
        if len(gids) == 1:
            pairs.append((gids[0], text[start:end]))  # one glyph for a ligature reads as all its letters
            continue
        wanted = {ord(char) for char in text[start:end]}
        for gid in gids:  # several glyphs for one cluster: map each to its own code point
            own = [cp for cp in font.codepoints_by_gid.get(gid, ()) if cp in wanted]
            if own:
                pairs.append((gid, chr(own[0])))
    return tuple(pairs)


def _text_operators(font: LoadedFont, glyphs: tuple[Glyph, ...], size: float) -> bytes:
    """TJ arrays placing each glyph where HarfBuzz put it (kerning, marks); Ts for raised glyphs."""
    per_mille = 1000 / font.units_per_em
    ops: list[bytes] = []
    run: list[bytes] = []
    hexes: list[str] = []
    rise = 0
    pdf_pen = shaped_pen = 0

    def flush_hex() -> None:
        if hexes:
            run.append(b"<" + "".join(hexes).encode("ascii") + b">")
            hexes.clear()

    def flush_run() -> None:
        flush_hex()
        if run:
            ops.append(b"[" + b" ".join(run) + b"] TJ")
            run.clear()

    for glyph in glyphs:
        if glyph.y_offset != rise:
            flush_run()
            rise = glyph.y_offset
            ops.append(b"%.3f Ts" % (rise / font.units_per_em * size))
        wanted = shaped_pen + glyph.x_offset
        if wanted != pdf_pen:
            flush_hex()
            run.append(b"%.1f" % (-(wanted - pdf_pen) * per_mille))
        hexes.append(f"{glyph.gid:04x}")
        pdf_pen = wanted + font.advances[glyph.gid]
        shaped_pen += glyph.x_advance
    flush_run()
    if rise:
        ops.append(b"0 Ts")
    return b" ".join(ops)


@functools.lru_cache(maxsize=512)
def _subset_program(face: Face, gids: frozenset[int]) -> tuple[bytes, int]:
    """The Flate-compressed TrueType program holding ``gids`` (glyph ids kept), and its decoded length."""
    tt = ttLib.TTFont(io.BytesIO(load_font(face).data))
    for tag in _LAYOUT_TABLES:
        if tag in tt:
            del tt[tag]  # never decompiled: the PDF positions glyphs itself
    options = subset.Options(layout_closure=False, hinting=False, notdef_outline=True)
    options.retain_gids = True  # CIDs are glyph ids (CIDToGIDMap /Identity)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=sorted(gids))
    subsetter.subset(tt)
    out = io.BytesIO()
    tt.save(out)
    program = out.getvalue()
    return zlib.compress(program, 6), len(program)


class StampFontEngine(FontEngine):
    """One font in one PDF revision: shapes text into TJ operators and embeds the glyphs it used."""

    def __init__(self, writer: BasePdfFileWriter, font: LoadedFont, font_size: float = 10) -> None:
        super().__init__(writer, font.postscript_name, embedded_subset=True, font_size=font_size)
        self.font = font
        self._to_unicode: dict[int, str] = {}
        self._font_ref = writer.allocate_placeholder()
        self._written = False

    def show(self, text: str, size: float) -> bytes:
        """Operators that draw ``text`` at ``size`` from the current text position (inside BT … ET)."""
        shaped = self.font.shape(text)
        for gid, reads_as in shaped.unicode:
            self._to_unicode.setdefault(gid, reads_as)
        if shaped.operators is not None:
            return shaped.operators
        return _text_operators(self.font, shaped.glyphs, size)

    def shape(self, txt: str) -> ShapeResult:
        """pyHanko's engine interface (for its text boxes): draws and moves the cursor past the text."""
        text = unicodedata.normalize("NFC", txt)
        advance = self.font.advance(text)
        ops = self.show(text, self.font_size) + b" %.3f 0 Td" % (advance * self.font_size)
        return ShapeResult(graphics_ops=ops, x_advance=advance, y_advance=0)

    def as_resource(self) -> generic.IndirectObject:
        return self._font_ref

    def prepare_write(self) -> None:
        if self._written:
            return
        self._written = True
        font = self.font
        writer = self.writer
        base = {font.cmap[ord(char)] for char in _ALWAYS_EMBEDDED if ord(char) in font.cmap}
        gids = frozenset(self._to_unicode) | base | {0}
        program, length = _subset_program(font.face, gids)
        font_file = generic.StreamObject(
            {
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
                pdf_name("/Length1"): generic.NumberObject(length),
            },
            encoded_data=program,
        )
        name = f"{self.subset_prefix}+{font.postscript_name}"
        descriptor = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/FontDescriptor"),
                pdf_name("/FontName"): pdf_name("/" + name),
                pdf_name("/Flags"): generic.NumberObject(font.flags),
                pdf_name("/FontFile2"): writer.add_object(font_file),
                **{pdf_name(key): _pdf_value(value) for key, value in font.descriptor.items()},
            }
        )
        cid_font = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
                pdf_name("/BaseFont"): pdf_name("/" + name),
                pdf_name("/CIDSystemInfo"): generic.DictionaryObject(
                    {
                        pdf_name("/Registry"): generic.pdf_string("Adobe"),
                        pdf_name("/Ordering"): generic.pdf_string("Identity"),
                        pdf_name("/Supplement"): generic.NumberObject(0),
                    }
                ),
                pdf_name("/FontDescriptor"): writer.add_object(descriptor),
                pdf_name("/CIDToGIDMap"): pdf_name("/Identity"),
                pdf_name("/W"): _Serialised(_widths(font.face, gids)),
            }
        )
        to_unicode = generic.StreamObject(
            {pdf_name("/Filter"): pdf_name("/FlateDecode")},
            encoded_data=_to_unicode_cmap(tuple(sorted(self._to_unicode.items()))),
        )
        type0 = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type0"),
                pdf_name("/BaseFont"): pdf_name("/" + name),
                pdf_name("/Encoding"): pdf_name("/Identity-H"),
                pdf_name("/DescendantFonts"): generic.ArrayObject([writer.add_object(cid_font)]),
                pdf_name("/ToUnicode"): writer.add_object(to_unicode),
            }
        )
        writer.add_object(type0, idnum=self._font_ref.idnum)


@dataclass(frozen=True)
class StampFontFactory(FontEngineFactory):
    """A pyHanko font engine factory over the process-wide parsed font; reusable across documents."""

    face: Face = Face.REGULAR
    font_size: float = 10

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream=None) -> StampFontEngine:
        return StampFontEngine(writer, load_font(self.face), self.font_size)


def _pdf_value(value: object) -> generic.PdfObject:
    if isinstance(value, list):
        return generic.ArrayObject([_pdf_value(item) for item in value])
    if isinstance(value, float):
        return generic.FloatObject(value)
    return generic.NumberObject(value)


class _Serialised(generic.PdfObject):
    """A direct object of numbers only, written as bytes serialised once (nothing in it to encrypt)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def write_to_stream(self, stream, handler=None, container_ref=None) -> None:
        stream.write(self.data)


@functools.lru_cache(maxsize=512)
def _widths(face: Face, gids: frozenset[int]) -> bytes:
    """The /W array: runs of consecutive CIDs with their advance widths in thousandths of an em."""
    font = load_font(face)
    per_mille = 1000 / font.units_per_em
    runs: list[tuple[int, list[int]]] = []
    for gid in sorted(gids):
        width = round(font.advances[gid] * per_mille)
        if runs and gid == runs[-1][0] + len(runs[-1][1]):
            runs[-1][1].append(width)
        else:
            runs.append((gid, [width]))
    return (
        b"["
        + b" ".join(b"%d [%s]" % (start, b" ".join(b"%d" % w for w in widths)) for start, widths in runs)
        + b"]"
    )


@functools.lru_cache(maxsize=512)
def _to_unicode_cmap(items: tuple[tuple[int, str], ...]) -> bytes:
    """The ToUnicode CMap (Flate-compressed) mapping each CID to the text its glyph stands for."""
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    for start in range(0, len(items), 100):
        chunk = items[start : start + 100]
        lines.append(f"{len(chunk)} beginbfchar")
        lines += [f"<{cid:04x}> <{text.encode('utf-16-be').hex()}>" for cid, text in chunk]
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return zlib.compress("\n".join(lines).encode("ascii"), 6)


def preload() -> None:
    """Parse every face now (~0.2 s each) rather than in the first signing request."""
    for face in Face:
        load_font(face)
