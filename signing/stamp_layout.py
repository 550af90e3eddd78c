"""Text blocks for stamps: labelled lines whose values share one column, wrap between words under it, and
shrink until the block fits its box (never drawn larger than the nominal sizes, never outside the box)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from core.errors import Kind, ServiceError
from signing.fonts import Face, LoadedFont, load_font


@dataclass(frozen=True)
class Field:
    label: str
    value: str
    face: Face = Face.REGULAR
    size: float = 9.0


@dataclass(frozen=True)
class Piece:
    text: str
    face: Face
    size: float
    x: float


@dataclass(frozen=True)
class Line:
    pieces: tuple[Piece, ...]
    size: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", max(piece.size for piece in self.pieces))


_LABEL_SIZE = 9.0
_MIN_SCALE = 0.3


def font_height(font: LoadedFont) -> float:
    return font.ascent + font.descent


class Wrap(enum.Enum):
    NONE = "each value on one line"
    WORDS = "break lines between words"
    ANYWHERE = "break words too"


def _wrap(text: str, font: LoadedFont, size: float, width: float, mode: Wrap) -> list[str] | None:
    """Greedy line breaking; None if ``text`` cannot be set in ``width`` that way."""
    if mode is Wrap.NONE:
        return [text] if font.advance(text) * size <= width else None
    rows: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if font.advance(candidate) * size <= width:
            current = candidate
            continue
        if current:
            rows.append(current)
        current = word
        if font.advance(word) * size > width:
            if mode is not Wrap.ANYWHERE:
                return None
            while len(current) > 1 and font.advance(current) * size > width:
                cut = len(current) - 1
                while cut > 1 and font.advance(current[:cut]) * size > width:
                    cut -= 1
                rows.append(current[:cut])
                current = current[cut:]
    rows.append(current)
    return rows


def _layout(fields: list[Field], width: float, scale: float, mode: Wrap) -> list[Line] | None:
    regular = load_font(Face.REGULAR)

    def label_size(item: Field) -> float:
        return min(item.size, _LABEL_SIZE) * scale

    # values start in one column, after the widest label
    column = max(
        regular.advance(f"{item.label}: ") * label_size(item) if item.label else 0.0 for item in fields
    )
    lines: list[Line] = []
    for item in fields:
        size = item.size * scale
        label = f"{item.label}: " if item.label else ""
        indent = column if label else 0.0
        if indent > width * 0.6:
            if mode is not Wrap.ANYWHERE:
                return None
            indent = 0.0  # a box too narrow for labels beside values: the value goes under its label
            lines.append(Line((Piece(label.strip(), Face.REGULAR, label_size(item), 0.0),)))
            label = ""
        rows = _wrap(item.value, load_font(item.face), size, width - indent, mode)
        if rows is None:
            return None
        for index, row in enumerate(rows):
            pieces = [Piece(row, item.face, size, indent)]
            if index == 0 and label:
                pieces.insert(0, Piece(label, Face.REGULAR, label_size(item), 0.0))
            lines.append(Line(tuple(pieces)))
    return lines


def block_height(lines: list[Line]) -> float:
    return sum(line.size * font_height(load_font(Face.BOLD)) for line in lines)


def fit(fields: list[Field], width: float, height: float, *, unwrapped_down_to: float = 0.85) -> list[Line]:
    """The largest layout, at most the nominal sizes, that fits ``width`` and ``height``: first shrinking
    a little with every value on one line, then breaking lines between words, then (below readable
    sizes, so only for absurd input) anywhere. Never larger than the box."""
    attempts = [(Wrap.NONE, unwrapped_down_to), (Wrap.WORDS, _MIN_SCALE), (Wrap.ANYWHERE, 0.0)]
    for mode, floor in attempts:
        scale = 1.0
        while scale > floor and scale > 1e-3:
            lines = _layout(fields, width, scale, mode)
            if lines is not None and block_height(lines) <= height:
                return lines
            scale *= 0.95
    raise ServiceError(Kind.MALFORMED, "the stamp text cannot fit its box")
