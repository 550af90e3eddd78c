"""Write examples/decision.pdf: a one-page sample decision (quyết định) of a ward People's Committee.

The README's tour signs this file. Run once, from the repository root, and commit the result:

    .venv/bin/python examples/make_decision_pdf.py

The text is set in Source Sans Pro (from the font-source-sans-pro package, a Kyso dependency) embedded as
subsets, so the Vietnamese diacritics render in every viewer and copy out as text. The layout follows
Decree 30/2020/ND-CP loosely: A4, the issuing body and the national motto side by side, the number and
date, the title, the articles, and at the bottom right the signer's title, leaving the space under it
(20 mm from the bottom edge) to Kyso's blue signature block and the clerk's red seal.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import font_source_sans_pro
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

A4 = (595.0, 842.0)
MM = 72 / 25.4
LEFT, RIGHT = 30 * MM, A4[0] - 20 * MM  # Decree 30 margins: left 30-35 mm, right 15-20 mm

ISSUER = ["ỦY BAN NHÂN DÂN", "PHƯỜNG BẾN THÀNH"]
MOTTO = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]
NUMBER = "Số: 123/QĐ-UBND"
PLACE_DATE = "Thành phố Hồ Chí Minh, ngày 02 tháng 12 năm 2026"
TITLE = "QUYẾT ĐỊNH"
SUBJECT = "Về việc thành lập Tổ công tác chuyển đổi số phường Bến Thành"
AUTHORITY = "CHỦ TỊCH ỦY BAN NHÂN DÂN PHƯỜNG BẾN THÀNH"
BODY = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
    "Căn cứ Luật Giao dịch điện tử ngày 22 tháng 6 năm 2023;",
    "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư;",
    "Theo đề nghị của Văn phòng Ủy ban nhân dân phường.",
]
DECIDES = "QUYẾT ĐỊNH:"
ARTICLES = [
    (
        "Điều 1.",
        "Thành lập Tổ công tác chuyển đổi số phường Bến Thành, gồm các thành viên có tên tại Phụ lục "
        "kèm theo Quyết định này. Tổ công tác giúp Chủ tịch Ủy ban nhân dân phường triển khai chữ ký số "
        "cho cán bộ, công chức và thư mời điện tử có mã QR tại trụ sở phường.",
    ),
    (
        "Điều 2.",
        "Tổ công tác có nhiệm vụ hướng dẫn người dân ký số và xác thực văn bản điện tử; báo cáo kết quả "
        "thực hiện hằng quý cho Chủ tịch Ủy ban nhân dân phường.",
    ),
    (
        "Điều 3.",
        "Quyết định này có hiệu lực kể từ ngày ký. Chánh Văn phòng Ủy ban nhân dân phường và các thành "
        "viên Tổ công tác chịu trách nhiệm thi hành Quyết định này.",
    ),
]
RECIPIENTS = ["Nơi nhận:", "- Như Điều 3;", "- UBND Thành phố (để báo cáo);", "- Lưu: VT."]
SIGNER_TITLE = ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"]
SAMPLE_NOTE = "Văn bản mẫu để thử nghiệm Kyso — không có giá trị pháp lý."


def font_files() -> tuple[str, str, str]:
    """Regular, bold and italic Source Sans Pro (SIL OFL 1.1; the package Kyso's stamps use too)."""
    folder = Path(font_source_sans_pro.font_directory)
    faces = ("SourceSansPro-Regular.ttf", "SourceSansPro-Bold.ttf", "SourceSansPro-It.ttf")
    return tuple(str(folder / name) for name in faces)  # type: ignore[return-value]


class Page:
    """Lines of text placed on one A4 page, each in one of three embedded fonts."""

    def __init__(self, writer: PdfFileWriter) -> None:
        regular, bold, italic = font_files()
        self.fonts = {
            "R": GlyphAccumulatorFactory(regular, font_size=1).create_font_engine(writer),
            "B": GlyphAccumulatorFactory(bold, font_size=1).create_font_engine(writer),
            "I": GlyphAccumulatorFactory(italic, font_size=1).create_font_engine(writer),
        }
        self.ops: list[bytes] = []

    def width(self, text: str, face: str, size: float) -> float:
        return self.fonts[face].shape(text).x_advance * size

    def line(self, text: str, x: float, y: float, *, face: str = "R", size: float = 12.0,
             align: str = "left") -> None:  # fmt: skip
        """One line at baseline ``y``; ``x`` is its left edge, centre or right edge by ``align``."""
        shaped = self.fonts[face].shape(text)
        width = shaped.x_advance * size
        left = {"left": x, "center": x - width / 2, "right": x - width}[align]
        self.ops.append(
            b"BT /F%s 1 Tf %.2f 0 0 %.2f %.2f %.2f Tm " % (face.encode(), size, size, left, y)
            + shaped.graphics_ops
            + b" ET"
        )

    def rule(self, x1: float, x2: float, y: float) -> None:
        self.ops.append(b"0.5 w %.2f %.2f m %.2f %.2f l S" % (x1, y, x2, y))

    def paragraph(self, text: str, y: float, *, size: float = 12.0, indent: float = 10 * MM,
                  leading: float = 17.0, lead: str = "") -> float:  # fmt: skip
        """Wrap ``text`` between the margins (the first line indented, ``lead`` in bold before it);
        returns the baseline under the paragraph."""
        words = text.split()
        x = LEFT + indent
        if lead:
            self.line(lead, x, y, face="B", size=size)
            x += self.width(lead + " ", "B", size)
        current: list[str] = []
        for word in words:
            trial = " ".join([*current, word])
            if current and x + self.width(trial, "R", size) > RIGHT:
                self.line(" ".join(current), x, y, size=size)
                y -= leading
                x, current = LEFT, [word]
            else:
                current.append(word)
        if current:
            self.line(" ".join(current), x, y, size=size)
        return y - leading

    def resources(self) -> generic.DictionaryObject:
        fonts = generic.DictionaryObject()
        for face, engine in self.fonts.items():
            engine.prepare_write()
            fonts[generic.NameObject(f"/F{face}")] = engine.as_resource()
        return generic.DictionaryObject({generic.NameObject("/Font"): fonts})


def build() -> bytes:
    writer = PdfFileWriter()
    page = Page(writer)
    width, height = A4
    left_centre = LEFT + 42 * MM
    right_centre = RIGHT - 52 * MM
    y = height - 25 * MM
    for i, text in enumerate(ISSUER):
        page.line(text, left_centre, y - i * 15, face="R" if i == 0 else "B", size=12, align="center")
    for i, text in enumerate(MOTTO):
        page.line(text, right_centre, y - i * 15, face="B", size=12 if i == 0 else 13, align="center")
    page.rule(left_centre - 15 * MM, left_centre + 15 * MM, y - 22)
    motto_width = page.width(MOTTO[1], "B", 13)
    page.rule(right_centre - motto_width / 2, right_centre + motto_width / 2, y - 22)
    y -= 42
    page.line(NUMBER, left_centre, y, size=12, align="center")
    page.line(PLACE_DATE, right_centre, y, face="I", size=12, align="center")
    y -= 42
    centre = (LEFT + RIGHT) / 2
    page.line(TITLE, centre, y, face="B", size=14, align="center")
    page.line(SUBJECT, centre, y - 18, face="B", size=13, align="center")
    page.rule(centre - 25 * MM, centre + 25 * MM, y - 26)
    y -= 52
    page.line(AUTHORITY, centre, y, face="B", size=13, align="center")
    y -= 28
    for clause in BODY:
        y = page.paragraph(clause, y, size=12)
    y -= 6
    page.line(DECIDES, centre, y, face="B", size=13, align="center")
    y -= 24
    for lead, text in ARTICLES:
        y = page.paragraph(text, y, size=12, lead=lead) - 3
    # The signer's title at the bottom right; Kyso's blue block goes under it (20 mm from the bottom
    # edge, 90 pt high), the clerk's red seal over its left third.
    sign_top = 20 * MM + 90 + 40
    for i, text in enumerate(SIGNER_TITLE):
        page.line(text, RIGHT - 165 / 2, sign_top - i * 16, face="B", size=13, align="center")
    for i, text in enumerate(RECIPIENTS):
        page.line(text, LEFT, sign_top - i * 14, face="B" if i == 0 else "R", size=11 if i == 0 else 10)
    page.line(SAMPLE_NOTE, centre, 10 * MM, face="I", size=9, align="center")

    data = b"\n".join(page.ops)
    stream = generic.StreamObject(stream_data=data)
    stream.compress()
    contents = writer.add_object(stream)
    box = generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, width, height)])
    writer.insert_page(PageObject(contents, box, writer.add_object(page.resources())))
    title = f"{NUMBER} — {TITLE.capitalize()} {SUBJECT[0].lower()}{SUBJECT[1:]}"
    writer._info = writer.add_object(  # pyHanko has no public setter for it
        generic.DictionaryObject(
            {
                generic.NameObject("/Title"): generic.TextStringObject(title),
                generic.NameObject("/Author"): generic.TextStringObject("UBND Phường Bến Thành"),
                generic.NameObject("/Producer"): generic.TextStringObject("examples/make_decision_pdf.py"),
            }
        )
    )
    fixed_id = hashlib.sha256(title.encode()).digest()[:16]
    writer._document_id = generic.ArrayObject(  # a fixed ID
        [generic.ByteStringObject(fixed_id), generic.ByteStringObject(fixed_id)]
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("decision.pdf"))
    args = parser.parse_args()
    args.output.write_bytes(build())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
