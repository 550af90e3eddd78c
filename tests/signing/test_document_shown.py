"""The document signed is the document shown (issue 19, item 0): form values keep their look, the PDF
version is raised only for what needs it, PDF/A stays PDF/A, page 1 renders pixel for pixel the same
outside the stamp, certified "no changes" documents are refused, and every refusal is audited."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner

from core.errors import Kind, ServiceError
from signing.pades import Level
from signing.service import Appearance
from store.models import AuditEntry
from tests.conftest import kyso, make_instance, run_tool
from tests.support.pdfs import sample_pdf
from tests.support.signing import (
    issue_in_custody,
    nss_database,
    pdfsig,
    root_asn1,
    root_pem,
    sign_bytes,
    signing_service,
)
from tests.support.validators import pyhanko_verdicts

NAME = "Nguyễn Văn Ân"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("shown")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    service = signing_service(instance)
    official = issue_in_custody(instance, "official")
    nss = nss_database(tmp / "nss", root_pem(instance))
    yield instance, service, official, nss, tmp
    instance.db.dispose()


# --- inputs the tests build ---------------------------------------------------------------------------
def _utf16(text: str) -> bytes:
    return b"<" + ("feff" + text.encode("utf-16-be").hex()).encode() + b">"


def form_pdf(*, need_appearances: bool = True, multiline: bool = False, drawn: bool = False) -> bytes:
    """A one-page form as LibreOffice writes one: text fields with values, /NeedAppearances true and no
    appearance streams (viewers draw the values), a Helvetica /DA and /DR."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog, pages, page = add(b""), add(b""), add(b"")
    helv = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    content = b"BT /F1 14 Tf 72 760 Td (Don de nghi - Ho va ten:) Tj ET 0 0 1 RG 70 690 300 30 re S"
    stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    flags = b" /Ff 4096" if multiline else b""
    appearance = b""
    if drawn:  # the author's tool drew the value itself (in Helvetica, ASCII only)
        ops = b"/Tx BMC q BT /Helv 14 Tf 0 g 2 9 Td (Nguyen Van An - drawn) Tj ET Q EMC"
        ap = add(
            b"<< /Type /XObject /Subtype /Form /BBox [0 0 300 30] /Resources << /Font << /Helv %d 0 R >> >>"
            b" /Length %d >>\nstream\n" % (helv, len(ops)) + ops + b"\nendstream"
        )
        appearance = b" /AP << /N %d 0 R >>" % ap
    name_field = add(
        b"<< /FT /Tx /T (ho_ten) /V " + _utf16(NAME) + b" /DA (/Helv 14 Tf 0 g) /Rect [70 690 370 720]"
        b" /Type /Annot /Subtype /Widget /F 4 /P %d 0 R%s%s >>" % (page, flags, appearance)
    )
    number_field = add(
        b"<< /FT /Tx /T (so) /V (123/QD-UBND) /DA (/Helv 0 Tf 0 0 1 rg) /Q 1 /Rect [70 640 370 670]"
        b" /Type /Annot /Subtype /Widget /F 4 /P %d 0 R >>" % page
    )
    objects[page - 1] = (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R"
        b" /Resources << /Font << /F1 %d 0 R >> >> /Annots [%d 0 R %d 0 R] >>"
        % (pages, stream, helv, name_field, number_field)
    )
    objects[pages - 1] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page
    need = b" /NeedAppearances true" if need_appearances else b""
    objects[catalog - 1] = (
        b"<< /Type /Catalog /Pages %d 0 R /AcroForm << /Fields [%d 0 R %d 0 R] /DA (/Helv 0 Tf 0 g)"
        b" /DR << /Font << /Helv %d 0 R >> >>%s >> >>" % (pages, name_field, number_field, helv, need)
    )
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /ID [<%s> <%s>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, b"ab" * 16, b"cd" * 16, xref_at,
    )  # fmt: skip
    return bytes(out)


def pdfa_2b(tmp: Path) -> bytes:
    """A PDF/A-2b file as Ghostscript writes one (XMP pdfaid, an sRGB OutputIntent)."""
    gs = shutil.which("gs")
    icc = Path("/usr/share/color/icc/ghostscript/srgb.icc")
    definitions = sorted(Path("/usr/share/ghostscript").glob("*/lib/PDFA_def.ps"))
    if gs is None or not icc.exists() or not definitions:
        pytest.fail("Ghostscript (Debian package ghostscript, in the Makefile's TEST_DEBS) is needed")
    source = tmp / "plain-for-pdfa.pdf"
    source.write_bytes(sample_pdf(1))
    defs = tmp / "PDFA_def.ps"
    defs.write_text(definitions[-1].read_text().replace("(srgb.icc)", f"({icc})"))
    target = tmp / "pdfa-2b.pdf"
    run_tool(gs, "-q", "-dPDFA=2", "-dBATCH", "-dNOPAUSE", "-dNOSAFER", "-sColorConversionStrategy=RGB",
             "-sDEVICE=pdfwrite", "-dPDFACompatibilityPolicy=1", "-o", target, defs, source)  # fmt: skip
    return target.read_bytes()


def certified_no_changes(service, serial: str) -> bytes:
    """A PDF certified by its author with DocMDP P=1 ("no changes allowed")."""
    import asyncio

    cms = service.pades_signer(service.keys.signing_key(serial)).cms
    writer = IncrementalPdfFileWriter(io.BytesIO(sample_pdf(1)))
    meta = PdfSignatureMetadata(field_name="Author", certify=True, docmdp_permissions=MDPPerm.NO_CHANGES,
                                md_algorithm=cms.digest_algorithm)  # fmt: skip
    out = io.BytesIO()
    asyncio.run(PdfSigner(meta, cms).async_sign_pdf(writer, output=out))
    return out.getvalue()


# --- reading what came out ------------------------------------------------------------------------------
def _catalog(pdf: bytes):
    return PdfFileReader(io.BytesIO(pdf)).root


def _render(pdf: bytes, path: Path, dpi: int = 100) -> Image.Image:
    path.write_bytes(pdf)
    run_tool(
        "pdftoppm", "-f", "1", "-l", "1", "-r", str(dpi), "-png", "-singlefile", path, path.with_suffix("")
    )
    return Image.open(path.with_suffix(".png")).convert("RGB")


def _stamp_rect(pdf: bytes) -> tuple[float, float, float, float]:
    reader = PdfFileReader(io.BytesIO(pdf))
    [signature] = reader.embedded_signatures
    x1, y1, x2, y2 = (float(v) for v in signature.sig_field["/Rect"])
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _differences_outside(before: Image.Image, after: Image.Image, box_pt, dpi: int, page_h: float) -> int:
    """How many pixels differ outside ``box_pt`` (PDF points, origin bottom-left), a 2 px margin around."""
    assert before.size == after.size
    diff = ImageChops.difference(before, after).convert("L").point(lambda v: 255 if v else 0)
    scale = dpi / 72
    x1, y1, x2, y2 = box_pt
    left, right = int(x1 * scale) - 2, int(x2 * scale) + 3
    top, bottom = int((page_h - y2) * scale) - 2, int((page_h - y1) * scale) + 3
    mask = Image.new("L", diff.size, 0)
    mask.paste(255, (0, 0, *diff.size))
    mask.paste(0, (max(left, 0), max(top, 0), min(right, diff.size[0]), min(bottom, diff.size[1])))
    return _ink(ImageChops.multiply(diff, mask))


# --- the tests -------------------------------------------------------------------------------------------
def test_page_one_renders_the_same_outside_the_stamp(setup) -> None:
    _, service, official, nss, tmp = setup
    original = sample_pdf(2)
    signed, _ = sign_bytes(service, official, original, level=Level.B_LT, appearance=Appearance.OFFICIAL,
                           title="Phó Chủ tịch", page=0)  # fmt: skip
    before = _render(original, tmp / "before.pdf")
    after = _render(signed, tmp / "after.pdf")
    box = _stamp_rect(signed)
    assert _differences_outside(before, after, box, 100, 842) == 0
    # the stamp itself is there: the box is not blank after signing, so the comparison saw a change
    assert ImageChops.difference(before, after).getbbox() is not None
    assert pdfsig(tmp / "after.pdf", nss)[0].signature_valid


def test_form_values_keep_their_appearance(setup) -> None:
    instance, service, official, nss, tmp = setup
    original = form_pdf()
    signed, _ = sign_bytes(service, official, original, level=Level.B_LT, appearance=Appearance.OFFICIAL)
    path = tmp / "form-signed.pdf"
    path.write_bytes(signed)
    root = _catalog(signed)
    assert "/NeedAppearances" not in root["/AcroForm"]  # viewers must not redraw a signed page
    text = run_tool("pdftotext", "-layout", path, "-").stdout
    assert NAME in text and "123/QD-UBND" in text  # drawn from the appearance streams, in Vietnamese
    # what the official saw (poppler draws the values itself, NeedAppearances) and what was signed both
    # have ink in the field's box; the page outside the fields and the stamp is pixel for pixel the same
    before = _render(original, tmp / "form-before.pdf")
    after = _render(signed, tmp / "form-after.pdf")
    scale = 100 / 72
    field_box = (int(72 * scale), int((842 - 718) * scale), int(368 * scale), int((842 - 692) * scale))
    for image in (before, after):
        assert image.crop(field_box).convert("L").getextrema()[0] < 128  # dark text inside the field
    assert _differences_outside(before, after, _stamp_rect(signed), 100, 842) <= _field_pixels(before, after)
    [verdict] = pyhanko_verdicts(signed, root_asn1(instance))
    assert (verdict.intact, verdict.valid, verdict.trusted) == (True, True, True)
    assert pdfsig(path, nss)[0].signature_valid


def _ink(image: Image.Image) -> int:
    """Pixels that are not 0 in a one-channel image."""
    histogram = image.convert("L").histogram()
    return sum(histogram) - histogram[0]


def _field_pixels(before: Image.Image, after: Image.Image) -> int:
    """Pixels that differ only inside the two fields' boxes (viewer's font versus Kyso's)."""
    diff = ImageChops.difference(before, after).convert("L")
    scale = 100 / 72
    outside = diff.copy()
    for x1, y1, x2, y2 in ((70, 690, 370, 720), (70, 640, 370, 670)):
        outside.paste(0, (int(x1 * scale) - 2, int((842 - y2) * scale) - 2,
                          int(x2 * scale) + 3, int((842 - y1) * scale) + 3))  # fmt: skip
    return _ink(diff) - _ink(outside)


def test_a_multiline_field_value_is_drawn(setup) -> None:
    _, service, official, _, tmp = setup
    signed, _ = sign_bytes(service, official, form_pdf(multiline=True), level=Level.B_B)
    path = tmp / "multi.pdf"
    path.write_bytes(signed)
    assert NAME in run_tool("pdftotext", path, "-").stdout


def test_an_appearance_the_author_drew_is_kept(setup) -> None:
    _, service, official, _, tmp = setup
    signed, _ = sign_bytes(service, official, form_pdf(drawn=True), level=Level.B_B)
    path = tmp / "drawn.pdf"
    path.write_bytes(signed)
    text = run_tool("pdftotext", path, "-").stdout
    assert "Nguyen Van An - drawn" in text and NAME not in text  # the author's, not redrawn by Kyso
    assert "123/QD-UBND" in text  # the other field had no appearance: drawn


def test_the_version_is_not_raised_and_pdfa_stays_pdfa(setup) -> None:
    _, service, official, nss, tmp = setup
    for level in (Level.B_B, Level.B_LTA):
        signed, _ = sign_bytes(service, official, sample_pdf(1), level=level)
        root = _catalog(signed)
        assert root.get("/Version") in (None, "/1.7"), level
        assert "/ISO_" not in root.get("/Extensions", {}), level
        assert "/ESIC" in root["/Extensions"]  # PAdES' own extension to PDF 1.7
        assert signed.startswith(b"%PDF-1.7")
    original = pdfa_2b(tmp)
    before = _catalog(original)
    signed, _ = sign_bytes(service, official, original, level=Level.B_LT, appearance=Appearance.OFFICIAL)
    root = _catalog(signed)
    assert root.get("/Version") in (None, "/1.7")  # PDF/A-2 is based on PDF 1.7
    assert "/ISO_" not in root.get("/Extensions", {})
    xmp = root["/Metadata"].data.decode("utf-8")
    assert re.search(r"pdfaid:part\s*=\s*['\"]2['\"]|<pdfaid:part>2</pdfaid:part>", xmp), xmp
    assert re.search(r"pdfaid:conformance\s*=\s*['\"]B['\"]|<pdfaid:conformance>B<", xmp), xmp
    intents = root["/OutputIntents"]
    assert len(intents) == len(before["/OutputIntents"]) == 1
    assert intents[0]["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intents[0]
    path = tmp / "pdfa-signed.pdf"
    path.write_bytes(signed)
    run_tool("qpdf", "--check", path)
    assert pdfsig(path, nss)[0].signature_valid


def test_a_document_certified_no_changes_is_refused(setup) -> None:
    _, service, official, _, _ = setup
    certified = certified_no_changes(service, official)
    with pytest.raises(ServiceError) as refused:
        sign_bytes(service, official, certified, level=Level.B_B)
    assert refused.value.kind is Kind.MALFORMED
    assert "no changes allowed" in refused.value.message


def test_cli_refusals_exit_2_and_are_audited(setup) -> None:
    instance, service, official, _, tmp = setup
    certified = tmp / "certified.pdf"
    certified.write_bytes(certified_no_changes(service, official))
    plain = tmp / "plain.pdf"
    plain.write_bytes(sample_pdf(1))
    encrypted = tmp / "encrypted.pdf"
    run_tool("qpdf", "--encrypt", "user", "owner", "256", "--", plain, encrypted)
    unreadable = tmp / "unreadable.pdf"
    unreadable.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 20)
    cases = {certified: "no changes allowed", encrypted: "encrypted", unreadable: "damaged"}
    for source, reason in cases.items():
        target = tmp / f"{source.stem}-out.pdf"
        result = kyso(instance, "sign", source, "-o", target, "--cert", official, "--level", "b-b")
        assert result.returncode == 2, result.stderr
        assert reason in result.stderr and "Traceback" not in result.stderr
        assert not target.exists()
    with instance.db.reading() as session:
        refusals = [
            e.details
            for e in session.query(AuditEntry).filter(
                AuditEntry.action == "document.sign",
                AuditEntry.outcome == "refused",
                AuditEntry.source == "cli",
            )
        ]
    for reason in cases.values():
        assert any(reason in entry for entry in refusals), (reason, refusals)
