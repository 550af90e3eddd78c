"""Decree 30 stamps, checked the way a person would: render the signed page with poppler and look.

Each scenario signs tests/support/pdfs.py's sample with pyHanko directly (a throwaway EC P-256 certificate)
at a frozen signing time, then: pdftotext finds the Vietnamese strings with their diacritics (the embedded
font and its ToUnicode work), zbarimg reads the QR, the signatures validate (pyHanko and pdfsig), the
colours are what they claim, and the stamp area matches a reference PNG that a person has looked at.

Regenerate the references with ``KYSO_UPDATE_REFERENCES=1 .venv/bin/pytest tests/signing/test_appearance.py``
and look at every PNG under tests/signing/reference/ before committing them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import re
import subprocess
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fontTools import ttLib
from PIL import Image, ImageChops
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core.errors import Kind, ServiceError
from signing import fonts
from signing.appearance import (
    ATTACHMENT_SIZE,
    OFFICIAL_SIZE,
    SEAL_DIAMETER,
    StampContent,
    display_time,
    stamp_box,
    stamp_style,
)
from tests.support.pdfs import A4, sample_pdf

REFERENCE_DIR = Path(__file__).with_name("reference")
UPDATE_REFERENCES = os.environ.get("KYSO_UPDATE_REFERENCES") == "1"
REFERENCE_DPI = 100
PAGE_DPI = 30  # whole-page thumbnails, to see where the stamps sit
PIXEL_THRESHOLD = 64  # a channel difference below this is anti-aliasing, not a different drawing
MAX_CHANGED = 0.005  # share of pixels allowed to differ (renderer versions); another name is ~2 %

SIGNED_AT = dt.datetime(2026, 11, 23, 2, 15, 2, tzinfo=dt.UTC)  # 09:15:02 in Ho Chi Minh City
SEALED_AT = SIGNED_AT + dt.timedelta(minutes=3)
AGENCY = "Ủy ban nhân dân Phường Bến Nghé"
URL = "https://kyso.example.vn/verify/AbC123"
OFFICIAL = StampContent(
    kind="official",
    signer_name="Nguyễn Thị Lan",
    title="Phó Chủ tịch",
    agency=AGENCY,
    document_number="123/QĐ-UBND",
    verify_url=URL,
)
SEAL = StampContent(kind="seal", signer_name=AGENCY, agency=AGENCY, verify_url=URL)
ATTACHMENT = StampContent(kind="attachment", agency=AGENCY, document_number="123/QĐ-UBND", verify_url=URL)
LONG = StampContent(
    kind="official",
    signer_name="Tôn Nữ Thị Hoàng Ngọc Bích Phương Thảo Nguyên Khánh Huyền",
    title="Phó Trưởng phòng Quản lý đô thị kiêm Phó Chỉ huy trưởng Ban Chỉ huy Quân sự Phường",
    agency="Ủy ban nhân dân Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh (Văn phòng Hội đồng nhân dân)",
    verify_url=URL + "?trang=1&ban=chinh-thuc&ma=0123456789abcdef",
)

OFFICIAL_BOX = stamp_box("official", *A4)
SEAL_BOX = stamp_box("seal", *A4, over=OFFICIAL_BOX)
ATTACHMENT_BOX = stamp_box("attachment", *A4)


# Signing


@dataclass(frozen=True)
class ThrowawaySigner:
    signer: SimpleSigner
    certificate: asn1_x509.Certificate


@pytest.fixture(scope="module")
def test_signer() -> ThrowawaySigner:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Thị Lan")])
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = SimpleSigner(
        signing_cert=cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore(),
    )
    return ThrowawaySigner(signer, cert)


def sign(
    signer: ThrowawaySigner,
    pdf: bytes,
    content: StampContent,
    box: tuple[float, float, float, float],
    when: dt.datetime | None,
    field: str,
) -> bytes:
    """Sign with pyHanko's session steps, as ``async_sign_pdf`` does, but with the session's clock set to
    ``when`` (pyHanko takes the time from there for the appearance, /M and the CMS alike)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    pdf_signer = PdfSigner(
        PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES),
        signer.signer,
        stamp_style=stamp_style(content),
        new_field_spec=SigFieldSpec(field, on_page=0, box=box),
    )
    if when is None:
        return asyncio.run(pdf_signer.async_sign_pdf(writer)).getvalue()

    async def run() -> bytes:
        session = pdf_signer.init_signing_session(writer)
        session.system_time = when
        tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=8192)
        digest, output = tbs.digest_tbs_document(output=io.BytesIO())
        attributes = PdfCMSSignedAttributes(signing_time=when)
        post = await tbs.perform_signature(digest.document_digest, attributes)
        await post.post_signature_processing(output)
        return output.getvalue()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def official_pdf(test_signer: ThrowawaySigner) -> bytes:
    return sign(test_signer, sample_pdf(1), OFFICIAL, OFFICIAL_BOX, SIGNED_AT, "Official")


@pytest.fixture(scope="module")
def sealed_pdf(test_signer: ThrowawaySigner, official_pdf: bytes) -> bytes:
    return sign(test_signer, official_pdf, SEAL, SEAL_BOX, SEALED_AT, "Seal")


@pytest.fixture(scope="module")
def attachment_pdf(test_signer: ThrowawaySigner) -> bytes:
    return sign(test_signer, sample_pdf(1), ATTACHMENT, ATTACHMENT_BOX, SIGNED_AT, "Attachment")


@pytest.fixture(scope="module")
def long_pdf(test_signer: ThrowawaySigner) -> bytes:
    return sign(test_signer, sample_pdf(1), LONG, OFFICIAL_BOX, SIGNED_AT, "Official")


# Looking at the result with poppler and zbar


def write(tmp_path: Path, pdf: bytes, name: str = "signed.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(pdf)
    return path


def text_of(pdf_path: Path) -> str:
    """The page's text as poppler extracts it, whitespace collapsed (lines may wrap anywhere)."""
    out = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def words_in(pdf_path: Path) -> list[tuple[str, float, float, float, float]]:
    """Each word with its box in PDF coordinates (origin at the lower left)."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = []
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    for x1, top, x2, bottom, word in re.findall(pattern, out):
        words.append((word, float(x1), A4[1] - float(bottom), float(x2), A4[1] - float(top)))
    return words


def render(pdf_path: Path, dpi: int, area: tuple[float, float, float, float] | None = None) -> Image.Image:
    """The first page rendered by pdftoppm, cropped to ``area`` (PDF points) if given."""
    scale = dpi / 72
    crop: list[str] = []
    if area is not None:
        x1, y1, x2, y2 = area
        crop = ["-x", str(round(x1 * scale)), "-y", str(round((A4[1] - y2) * scale))]
        crop += ["-W", str(round((x2 - x1) * scale)), "-H", str(round((y2 - y1) * scale))]
    out = pdf_path.with_suffix(f".{dpi}")
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            *crop,
            str(pdf_path),
            str(out),
        ],
        check=True,
    )
    with Image.open(out.with_suffix(out.suffix + ".png")) as image:
        return image.convert("RGB")


def qr_codes(pdf_path: Path) -> list[str]:
    page = pdf_path.with_suffix(".qr")
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", "-f", "1", "-l", "1", str(pdf_path), str(page)],
        check=True,
    )
    found = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(page) + ".png"], capture_output=True, text=True
    ).stdout
    return found.split()


def pdfsig_verdicts(pdf_path: Path) -> list[str]:
    """pdfsig's "Signature Validation" line per signature (its exit code is 0 even when one is broken)."""
    out = subprocess.run(["pdfsig", str(pdf_path)], capture_output=True, text=True).stdout
    return re.findall(r"Signature Validation: (.*)", out)


def pyhanko_statuses(pdf: bytes, root: asn1_x509.Certificate) -> list:
    reader = PdfFileReader(io.BytesIO(pdf))

    async def validate_all() -> list:
        results = []
        for embedded in reader.embedded_signatures:
            context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
            results.append(await async_validate_pdf_signature(embedded, context))
        return results

    return asyncio.run(validate_all())


def coloured(image: Image.Image, colour: str) -> int:
    """Pixels that are plainly blue (the official's ink) or plainly red (the seal's)."""
    return sum(1 for pixel in pixels(image) if is_colour(pixel, colour))


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.tobytes()
    return [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]


def is_colour(pixel: tuple[int, int, int], colour: str) -> bool:
    r, g, b = pixel
    if colour == "blue":
        return b > 140 and r < 90 and g < 90
    return r > 140 and g < 90 and b < 90


def changed_share(a: Image.Image, b: Image.Image) -> float:
    difference = ImageChops.difference(a, b).convert("L")
    changed = sum(difference.histogram()[PIXEL_THRESHOLD + 1 :])
    return changed / (a.width * a.height)


def assert_matches_reference(image: Image.Image, name: str, tmp_path: Path) -> None:
    path = REFERENCE_DIR / f"{name}.png"
    if UPDATE_REFERENCES:
        REFERENCE_DIR.mkdir(exist_ok=True)
        image.save(path, optimize=True)
        warnings.warn(f"wrote {path}: look at it before committing it", stacklevel=2)
        return
    assert path.exists(), f"no reference {path}; make it with KYSO_UPDATE_REFERENCES=1 and look at it"
    with Image.open(path) as stored:
        reference = stored.convert("RGB")
    actual = tmp_path / f"{name}.actual.png"
    assert reference.size == image.size, f"size {image.size} ≠ reference {reference.size}; see {actual}"
    share = changed_share(reference, image)
    if share > MAX_CHANGED:
        image.save(actual)
    assert share <= MAX_CHANGED, f"{share:.2%} of the pixels differ from {path}; see {actual}"


def around(*boxes: tuple[float, float, float, float], margin: float = 6) -> tuple[float, float, float, float]:
    return (
        min(box[0] for box in boxes) - margin,
        min(box[1] for box in boxes) - margin,
        max(box[2] for box in boxes) + margin,
        max(box[3] for box in boxes) + margin,
    )


# The official's block


def test_official_block_shows_the_signer_in_vietnamese_and_links_to_verification(official_pdf, tmp_path):
    path = write(tmp_path, official_pdf)
    text = text_of(path)
    for expected in ("Người ký: Nguyễn Thị Lan", "Chức vụ: Phó Chủ tịch", f"Cơ quan: {AGENCY}"):
        assert expected in text
    assert "Ký lúc: 2026-11-23T09:15:02+07:00" in text
    assert qr_codes(path) == [URL]


def test_official_block_is_blue_inside_its_box_and_matches_the_reference(official_pdf, tmp_path):
    path = write(tmp_path, official_pdf)
    stamp = render(path, REFERENCE_DPI, around(OFFICIAL_BOX))
    assert coloured(stamp, "blue") > 2000
    assert coloured(stamp, "red") == 0
    page = render(path, 36)
    scale = 36 / 72
    x1, y1, x2, y2 = OFFICIAL_BOX
    outside = page.copy()
    outside.paste(
        (255, 255, 255),
        (
            int(x1 * scale) - 1,
            int((A4[1] - y2) * scale) - 1,
            int(x2 * scale) + 2,
            int((A4[1] - y1) * scale) + 2,
        ),
    )
    assert coloured(outside, "blue") == 0, "the block drew outside its field"
    assert_matches_reference(stamp, "official", tmp_path)


def test_official_signature_validates(official_pdf, test_signer, tmp_path):
    statuses = pyhanko_statuses(official_pdf, test_signer.certificate)
    assert [(s.intact, s.valid, s.trusted) for s in statuses] == [(True, True, True)]
    assert pdfsig_verdicts(write(tmp_path, official_pdf)) == ["Signature is Valid."]


# The seal over the official's block


def test_seal_is_red_round_and_over_the_left_third_of_the_official_block(sealed_pdf, tmp_path):
    path = write(tmp_path, sealed_pdf)
    area = around(OFFICIAL_BOX, SEAL_BOX)
    stamp = render(path, REFERENCE_DPI, area)
    scale = REFERENCE_DPI / 72
    red = [
        (x, y)
        for index, pixel in enumerate(pixels(stamp))
        if is_colour(pixel, "red")
        for x, y in [(index % stamp.width, index // stamp.width)]
    ]
    assert len(red) > 1500
    left = area[0] + min(x for x, _ in red) / scale
    right = area[0] + (max(x for x, _ in red) + 1) / scale
    third = OFFICIAL_BOX[0] + (OFFICIAL_BOX[2] - OFFICIAL_BOX[0]) / 3
    assert abs(right - third) < 3, "the seal's right edge is one third into the official's block"
    assert abs((right - left) - SEAL_DIAMETER) < 3, "the seal keeps the size of a real seal"
    assert coloured(stamp, "blue") > 2000, "the official's block still shows"
    assert_matches_reference(stamp, "official-and-seal", tmp_path)
    assert_matches_reference(render(path, PAGE_DPI), "page-official-and-seal", tmp_path)


def test_seal_names_the_agency_and_its_own_signing_time(sealed_pdf, tmp_path):
    path = write(tmp_path, sealed_pdf)
    text = text_of(path)
    assert AGENCY.upper() in text  # set letter by letter round the ring; read as a whole through ActualText
    assert "2026-11-23T09:18:02+07:00" in text
    assert "Ký lúc: 2026-11-23T09:15:02+07:00" in text
    assert qr_codes(path) == [URL], "the seal leaves the official's QR code readable"


def test_both_signatures_stay_valid_after_the_seal(sealed_pdf, test_signer, tmp_path):
    statuses = pyhanko_statuses(sealed_pdf, test_signer.certificate)
    assert [(s.intact, s.valid, s.trusted) for s in statuses] == [(True, True, True)] * 2
    official, seal = statuses
    assert official.modification_level.name == "FORM_FILLING"  # a new signature field, nothing else
    assert seal.coverage.name == "ENTIRE_FILE"
    assert pdfsig_verdicts(write(tmp_path, sealed_pdf)) == ["Signature is Valid."] * 2


def test_a_byte_changed_in_the_stamp_breaks_the_signature(official_pdf, test_signer, tmp_path):
    """The appearance is inside the signed bytes: the checks above would see tampering with it."""
    reader = PdfFileReader(io.BytesIO(official_pdf))
    ref = reader.embedded_signatures[0].sig_field["/AP"].raw_get("/N")
    header = official_pdf.index(b"\n%d 0 obj" % ref.idnum)
    offset = official_pdf.index(b"stream", header) + 20  # inside the compressed appearance stream
    tampered = official_pdf[:offset] + bytes([official_pdf[offset] ^ 0x01]) + official_pdf[offset + 1 :]
    statuses = pyhanko_statuses(tampered, test_signer.certificate)
    assert not statuses[0].intact
    assert pdfsig_verdicts(write(tmp_path, tampered)) != ["Signature is Valid."]


# The attachment block


def test_attachment_block_is_text_only_at_the_top_right(attachment_pdf, tmp_path):
    path = write(tmp_path, attachment_pdf)
    text = text_of(path)
    assert "Văn bản số: 123/QĐ-UBND" in text
    assert f"Cơ quan: {AGENCY}" in text
    assert "Thời gian ký: 2026-11-23T09:15:02+07:00" in text
    assert qr_codes(path) == []
    x1, y1, x2, y2 = ATTACHMENT_BOX
    stamp_words = [w for w in words_in(path) if w[3] > x1 - 10 and w[4] > y1 - 10]
    assert {"123/QĐ-UBND", "Bến", "Nghé"} <= {w[0] for w in stamp_words}
    assert all(x1 <= w[1] and w[3] <= x2 and y1 <= w[2] and w[4] <= y2 for w in stamp_words)
    stamp = render(path, REFERENCE_DPI, around(ATTACHMENT_BOX))
    assert coloured(stamp, "red") == 0
    assert_matches_reference(stamp, "attachment", tmp_path)
    assert_matches_reference(render(path, PAGE_DPI), "page-attachment", tmp_path)


# Long text


def test_long_name_and_title_wrap_and_shrink_inside_the_box(long_pdf, tmp_path):
    path = write(tmp_path, long_pdf)
    text = text_of(path)
    for value in (LONG.signer_name, LONG.title, LONG.agency):
        assert value in text
    x1, y1, x2, y2 = OFFICIAL_BOX
    stamp_words = [w for w in words_in(path) if w[2] < A4[1] / 2]
    assert len(stamp_words) > 40
    outside = [w for w in stamp_words if not (x1 <= w[1] and w[3] <= x2 and y1 <= w[2] and w[4] <= y2)]
    assert outside == []
    assert qr_codes(path) == [LONG.verify_url]
    assert_matches_reference(render(path, REFERENCE_DPI, around(OFFICIAL_BOX)), "official-long", tmp_path)


def test_the_reference_comparison_tells_a_different_stamp_apart(official_pdf, test_signer, tmp_path):
    other = StampContent(
        kind="official", signer_name="Trần Văn Bình", title="Chủ tịch", agency=AGENCY, verify_url=URL
    )
    changed = sign(test_signer, sample_pdf(1), other, OFFICIAL_BOX, SIGNED_AT, "Official")
    first = render(write(tmp_path, official_pdf, "a.pdf"), REFERENCE_DPI, around(OFFICIAL_BOX))
    second = render(write(tmp_path, changed, "b.pdf"), REFERENCE_DPI, around(OFFICIAL_BOX))
    again = render(write(tmp_path, official_pdf, "c.pdf"), REFERENCE_DPI, around(OFFICIAL_BOX))
    assert changed_share(first, second) > MAX_CHANGED
    assert changed_share(first, again) == 0


# Time


def test_displayed_time_is_the_signature_time_in_vietnam_whatever_the_session_zone(test_signer, tmp_path):
    new_york = dt.timezone(dt.timedelta(hours=-5))
    when = dt.datetime(2026, 11, 22, 21, 15, 2, tzinfo=new_york)  # 09:15:02 next morning in Vietnam
    pdf = sign(test_signer, sample_pdf(1), OFFICIAL, OFFICIAL_BOX, when, "Official")
    assert "Ký lúc: 2026-11-23T09:15:02+07:00" in text_of(write(tmp_path, pdf))
    (status,) = pyhanko_statuses(pdf, test_signer.certificate)
    assert status.signer_reported_dt == when


def test_pyhankos_own_signing_path_shows_the_time_it_signs_at(test_signer, tmp_path):
    pdf = sign(test_signer, sample_pdf(1), OFFICIAL, OFFICIAL_BOX, None, "Official")
    (status,) = pyhanko_statuses(pdf, test_signer.certificate)
    shown = re.search(r"Ký lúc: (\S+)", text_of(write(tmp_path, pdf)))
    assert shown is not None
    assert shown.group(1) == display_time(status.signer_reported_dt)
    assert shown.group(1).endswith("+07:00")


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=dt.UTC), "2026-01-01T07:00:00+07:00"),
        (dt.datetime(2026, 12, 31, 20, 30, 59, 999999, tzinfo=dt.UTC), "2027-01-01T03:30:59+07:00"),
        (
            dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
            "2026-06-01T07:00:00+07:00",
        ),
    ],
)
def test_display_time_is_iso_8601_in_utc_plus_7(moment, shown):
    assert display_time(moment) == shown


# Font


def test_every_character_shown_is_in_the_fonts_cmap(sealed_pdf, long_pdf, attachment_pdf, tmp_path):
    shown = "".join(
        text_of(write(tmp_path, pdf, f"{index}.pdf"))
        for index, pdf in enumerate((sealed_pdf, long_pdf, attachment_pdf))
    )
    shown = shown.replace("Quyet dinh so 123/QD-UBND - trang 1/1", "")
    assert unicodedata.is_normalized("NFC", shown)
    for face in fonts.Face:
        cmap = ttLib.TTFont(face.path).getBestCmap()
        missing = sorted({char for char in shown if not char.isspace() and ord(char) not in cmap})
        assert missing == [], f"{face.value} lacks {missing}"
    assert {"ờ", "ễ", "Ủ", "Đ", "ị", "ở", "ộ", "ự", "Ư", "Ờ", "Ế"} <= set(shown)


def test_the_stamp_fonts_are_embedded_subsets_with_unicode_maps(sealed_pdf, tmp_path):
    out = subprocess.run(
        ["pdffonts", str(write(tmp_path, sealed_pdf))], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split() for line in out.splitlines() if "SourceSansPro" in line]
    assert {row[0].split("+")[1] for row in rows} == {
        "SourceSansPro-Regular",
        "SourceSansPro-Bold",
        "SourceSansPro-SemiboldIt",
    }
    for row in rows:
        assert re.fullmatch(r"[A-Z]{6}\+SourceSansPro-\w+", row[0])
        assert row[-5:-2] == ["yes", "yes", "yes"], row  # embedded, subset, ToUnicode


def test_the_font_is_parsed_once_and_its_subsets_reused_across_documents(test_signer, tmp_path):
    sign(test_signer, sample_pdf(1), OFFICIAL, OFFICIAL_BOX, SIGNED_AT, "Official")
    loads, subsets = fonts.load_font.cache_info(), fonts._subset_program.cache_info()
    later = SIGNED_AT + dt.timedelta(hours=5, seconds=17)  # other digits: the same subset still serves
    pdf = sign(test_signer, sample_pdf(1), OFFICIAL, OFFICIAL_BOX, later, "Official")
    assert fonts.load_font.cache_info().misses == loads.misses
    assert fonts._subset_program.cache_info().misses == subsets.misses
    assert fonts._subset_program.cache_info().hits > subsets.hits
    assert "Ký lúc: 2026-11-23T14:15:19+07:00" in text_of(write(tmp_path, pdf))


# Content and boxes


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "stamp", "signer_name": "A"}, "unknown stamp kind"),
        ({"kind": "official"}, "needs signer name"),
        ({"kind": "seal"}, "needs agency"),
        ({"kind": "attachment", "agency": AGENCY}, "needs document number"),
        ({"kind": "official", "signer_name": "李小龍"}, "cannot show '李'"),
        ({"kind": "official", "signer_name": "An 🙂"}, "cannot show"),
        ({"kind": "official", "signer_name": "An\x07"}, "control characters"),
        ({"kind": "official", "signer_name": "A" * 301}, "longer than 300"),
        ({"kind": "official", "signer_name": "An", "verify_url": "javascript:alert(1)"}, "http(s) URL"),
        ({"kind": "official", "signer_name": "An", "verify_url": "https://kyso.vn/xác-minh"}, "ASCII"),
    ],
)
def test_bad_content_is_refused_with_a_reason(fields, message):
    with pytest.raises(ServiceError) as refused:
        StampContent(**fields)
    assert refused.value.kind is Kind.MALFORMED
    assert message in str(refused.value)


def test_content_is_kept_in_nfc_with_single_spaces():
    decomposed = unicodedata.normalize("NFD", "  Nguyễn   Thị Lan ")
    content = StampContent(kind="official", signer_name=decomposed)
    assert content.signer_name == "Nguyễn Thị Lan"
    assert unicodedata.is_normalized("NFC", content.signer_name)


@pytest.mark.parametrize("page", [A4, (612, 792), (842, 595), (1191, 842), (298, 420)])
def test_boxes_sit_inside_the_page_where_decree_30_puts_them(page):
    width, height = page
    official = stamp_box("official", width, height)
    seal = stamp_box("seal", width, height, over=official)
    attachment = stamp_box("attachment", width, height)
    for x1, y1, x2, y2 in (official, seal, attachment):
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert official[2] > width * 0.85 and official[1] < height * 0.15  # bottom right
    assert attachment[2] > width * 0.85 and attachment[3] > height * 0.95  # top right
    third = official[0] + (official[2] - official[0]) / 3
    assert seal[2] == pytest.approx(third, abs=0.02)
    assert (seal[1] + seal[3]) / 2 == pytest.approx((official[1] + official[3]) / 2, abs=0.02)
    assert seal == stamp_box("seal", width, height)  # by default, over where the official's block goes
    if page == A4:
        assert (official[2] - official[0], official[3] - official[1]) == pytest.approx(OFFICIAL_SIZE)
        assert (attachment[2] - attachment[0], attachment[3] - attachment[1]) == pytest.approx(
            ATTACHMENT_SIZE
        )
        assert seal[2] - seal[0] == pytest.approx(SEAL_DIAMETER, abs=0.02)


def test_boxes_refuse_unknown_kinds_and_empty_pages():
    for args in (("round", *A4), ("official", 0, 842)):
        with pytest.raises(ServiceError) as refused:
            stamp_box(*args)
        assert refused.value.kind is Kind.MALFORMED


def test_the_font_factory_serves_pyhankos_own_text_stamps_across_documents(test_signer, tmp_path):
    """StampFontFactory is a pyHanko FontEngineFactory: its text boxes get the cached Vietnamese font."""
    style = TextStampStyle(
        stamp_text="Đã ký: %(signer)s\nLúc %(ts)s",
        text_box_style=TextBoxStyle(font=fonts.StampFontFactory(font_size=9)),
    )
    for number in (1, 2):  # one factory, two documents
        writer = IncrementalPdfFileWriter(io.BytesIO(sample_pdf(1)))
        pdf_signer = PdfSigner(
            PdfSignatureMetadata(field_name="Sig", subfilter=SigSeedSubFilter.PADES, name="Lê Thị Ánh Tuyết"),
            test_signer.signer,
            stamp_style=style,
            new_field_spec=SigFieldSpec("Sig", on_page=0, box=(300, 100, 550, 150)),
        )
        pdf = asyncio.run(pdf_signer.async_sign_pdf(writer)).getvalue()
        path = write(tmp_path, pdf, f"{number}.pdf")
        assert "Đã ký: Lê Thị Ánh Tuyết" in text_of(path)
        assert pdfsig_verdicts(path) == ["Signature is Valid."]
