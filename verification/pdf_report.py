"""The verification report as a PDF (A4, Vietnamese with English alongside), ready to be sealed by the
service: api/ and cli/ seal it (PAdES B-LT) with the report-seal certificate through signing/.

Text is set in Source Sans Pro (SIL OFL 1.1, package ``font-source-sans-pro``), embedded as a subset with
a ToUnicode map by pyHanko's OpenType engine, so the report can be searched and copied (pdftotext).
"""

from __future__ import annotations

import functools
import io
import textwrap
from pathlib import Path

import font_source_sans_pro
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import PdfContent, PdfResources
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from verification import words
from verification.render import issued_line, overall_lines, report_lines, signature_lines
from verification.report import VerificationReport

A4 = (595.0, 842.0)
MARGIN = 48.0
BODY_SIZE = 9
LINES_PER_PAGE = 72
WRAP = 118  # characters per line at 9 pt in the body width
MAX_PAGES = 4


@functools.cache
def _font(face: str) -> GlyphAccumulatorFactory:
    return GlyphAccumulatorFactory(str(Path(font_source_sans_pro.font_directory) / face))


def body_lines(report: VerificationReport) -> list[str]:
    """What the report says, one printed line each (long values wrapped)."""
    lines = [
        *overall_lines(report)[1:],
        f"SHA-256: {report.sha256}  ({report.size:,} bytes)",
        f"Danh sách tin cậy / Trust list: {report.trust_list}",
        *report_lines(report),
        f"Thời điểm kiểm tra / Checked at: {report.validated_at}",
    ]
    for record in report.issued_by_us:
        lines += _wrapped(f"Do Kyso ký / Issued by this service: {issued_line(record)}")
    if report.test_pki_fields:
        lines += _wrapped(f"Lưu ý / Note: {words.both(words.TEST_PKI)}")
    if not report.signatures:
        lines.append("Không tìm thấy chữ ký nào / No signature found.")
    for number, signature in enumerate(report.signatures, start=1):
        lines += ["", f"Chữ ký #{number} / Signature #{number}: {signature.field}"]
        for label, value in signature_lines(number, signature, report):
            lines += _wrapped(f"    {label}: {value}")
    if report.warnings:
        lines.append("")
    for warning in report.warnings:
        lines += _wrapped(f"Cảnh báo / Warning: {words.both(words.technical(warning))}")
    lines += ["", "Báo cáo này do dịch vụ Kyso lập và đóng dấu điện tử.",
              "This report was produced and sealed by the Kyso service."]  # fmt: skip
    return lines


def _wrapped(line: str) -> list[str]:
    return textwrap.wrap(line, WRAP, subsequent_indent="        ", break_long_words=True) or [""]


def verdict_line(report: VerificationReport) -> str:
    """The document's one conclusion (verification.words.document_verdict); its reason opens the body."""
    return overall_lines(report)[0]


def report_pdf(report: VerificationReport) -> bytes:
    """An unsigned PDF of the report: a heading and the verdict in bold, then the details."""
    writer = PdfFileWriter()
    lines = body_lines(report)
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)][:MAX_PAGES]
    for number, chunk in enumerate(pages, start=1):
        heading = [
            "BÁO CÁO KIỂM TRA CHỮ KÝ SỐ / SIGNATURE VERIFICATION REPORT",
            verdict_line(report) if number == 1 else f"(trang / page {number}/{len(pages)})",
        ]
        _add_page(writer, heading, chunk)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _add_page(writer: PdfFileWriter, heading: list[str], lines: list[str]) -> None:
    width, height = A4
    inner = width - 2 * MARGIN
    head = _box(writer, "SourceSansPro-Bold.ttf", 13, "\n".join(heading), inner, 40, "FH")
    body = _box(writer, "SourceSansPro-Regular.ttf", BODY_SIZE, "\n".join(lines), inner,
                height - 2 * MARGIN - 56, "FB")  # fmt: skip
    head_ops, body_ops = head.render(), body.render()  # rendering registers the fonts as resources
    resources = PdfResources()
    for box in (head, body):
        resources += box.resources
    stream = b"".join(
        [
            b"q 1 0 0 1 %g %g cm " % (MARGIN, height - MARGIN - 40) + head_ops + b" Q\n",
            b"q 1 0 0 1 %g %g cm " % (MARGIN, MARGIN) + body_ops + b" Q\n",
            b"q 0.6 G 0.8 w %g %g m %g %g l S Q\n" % (MARGIN, height - MARGIN - 46, width - MARGIN,
                                                     height - MARGIN - 46),
        ]
    )  # fmt: skip
    contents = writer.add_object(generic.StreamObject(stream_data=stream))
    writer.insert_page(PageObject(contents, (0, 0, width, height), resources.as_pdf_object()))


def _box(writer, face: str, size: float, text: str, width: float, height: float, name: str) -> PdfContent:
    top_left = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MAX
    )
    style = TextBoxStyle(font=_font(face), font_size=size, leading=size * 1.3, box_layout_rule=top_left)
    box = TextBox(style, writer=writer, box=layout.BoxConstraints(width=width, height=height), font_name=name)
    box.content = text
    return box
