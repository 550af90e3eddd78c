"""The report as a PDF: Vietnamese and English text that pdftotext reads back, the verdict on page one."""

from __future__ import annotations

import subprocess

from pyhanko.pdf_utils.reader import PdfFileReader

from verification.pdf_report import report_pdf
from verification.report import Indication, Person, Revocation, SignatureReport, VerificationReport


def _report(indication: Indication, sub: str | None, warnings: int = 0) -> VerificationReport:
    signature = SignatureReport(
        field="Signature1", kind="signature", indication=indication, sub_indication=sub,
        signer=Person("Trần Thị Bình", "CN=Trần Thị Bình", cccd="079185001235"), issuer="Kyso Government CA",
        signing_time="2026-11-23T09:00:00+07:00", signing_time_source="timestamp", timestamp=None,
        revocation=Revocation.EMBEDDED, revocation_checked_at=None, revoked_at=None,
        certificate_valid_from=None, certificate_valid_until=None, integrity=True, trusted=True,
        coverage="entire-revision", modification="none", pades_level="B-LT", certification=None,
        classic_valid=True, reasons=["the certificate was revoked"] if sub else [],
    )  # fmt: skip
    return VerificationReport(
        sha256="ab" * 32, size=1234, trust_list="Kyso", validated_at="2026-11-23T10:00:00+07:00",
        signatures=[signature], warnings=[f"warning number {n} " + "x" * 150 for n in range(warnings)],
    )  # fmt: skip


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_the_verdict_and_the_facts_read_back(tmp_path):
    text = _text(report_pdf(_report(Indication.TOTAL_PASSED, None)), tmp_path)
    assert "KẾT LUẬN / OVERALL: HỢP LỆ / valid (TOTAL-PASSED)" in text
    assert "Trần Thị Bình" in text and "079185001235" in text and "Mức PAdES / PAdES level: B-LT" in text
    failed = _text(report_pdf(_report(Indication.TOTAL_FAILED, "REVOKED")), tmp_path)
    assert "KHÔNG HỢP LỆ / invalid (TOTAL-FAILED / REVOKED)" in failed


def test_a_long_report_takes_more_pages_and_stays_bounded(tmp_path):
    long = report_pdf(_report(Indication.INDETERMINATE, "TRY_LATER", warnings=60))
    reader = PdfFileReader(__import__("io").BytesIO(long))
    assert 2 <= len(reader.root["/Pages"]["/Kids"]) <= 4
    assert "trang / page 2/" in _text(long, tmp_path)
