"""The report for people: a text report (Vietnamese, with English alongside) and an HTML page (escaped).
Every verdict's words come from verification.words, as on the pages and in the sealed PDF report."""

from __future__ import annotations

from html import escape

from verification import words
from verification.report import Indication, IssuedRecord, SignatureReport, VerificationReport

# (vi, en) of the document's verdict as the text and PDF reports print it: "HỢP LỆ / valid (TOTAL-PASSED)"
VERDICT = {
    Indication.TOTAL_PASSED: (words.VERDICT[Indication.TOTAL_PASSED][0], "valid"),
    Indication.TOTAL_FAILED: (words.VERDICT[Indication.TOTAL_FAILED][0], "invalid"),
    Indication.INDETERMINATE: (words.VERDICT[Indication.INDETERMINATE][0], "indeterminate"),
}


def signature_lines(
    number: int, s: SignatureReport, report: VerificationReport | None = None
) -> list[tuple[str, str]]:
    b = words.both
    shown, verdict = words.signature_verdict(s, report)
    vi, en = VERDICT[s.indication] if shown is s.indication else (verdict[0], verdict[1].lower())
    rows = [
        (
            "Kết luận / Result",
            f"{vi} / {en} ({s.indication.value}{' / ' + s.sub_indication if s.sub_indication else ''})",
        ),
        ("Loại / Kind", b(words.kind(s))),
    ]
    because = words.reason(s, report)
    if because is not None:
        rows.append(("Lý do / Reason", b(because)))
    seal = words.is_seal(s)
    if s.signer is not None:
        rows.append(("Cơ quan / Agency" if seal else "Người ký / Signer", s.signer.name))
        if s.signer.cccd:
            rows.append(("Số CCCD / Citizen ID", s.signer.cccd))
        if s.signer.tax_code:
            rows.append(("Mã số thuế / Tax code", s.signer.tax_code))
        if s.signer.organization and s.signer.organization != s.signer.name:
            rows.append(("Cơ quan / Agency", s.signer.organization))
    if s.issuer:
        rows.append(("Tổ chức cấp chứng thư / Issuer", words.issuer(s.issuer) or s.issuer))
    if report is not None and s.field in report.test_pki_fields and not _all_test_pki(report):
        rows.append(("Lưu ý / Note", b(words.TEST_PKI)))  # when all are, the header says it once
    if s.signing_time:
        source = words.TIME_SOURCE.get(s.signing_time_source, ("", ""))
        when = f"{s.signing_time} ({b(source)})" if source[0] else s.signing_time
        rows.append(("Thời điểm ký / Signing time", when))
    if s.timestamp is not None:
        rows.append(("Dấu thời gian / Timestamp", f"{s.timestamp.authority}, {s.timestamp.time}"))
    rows.append(("Toàn vẹn / Integrity", b(words.integrity(s))))
    rows.append(("Chuỗi chứng thư tin cậy / Trusted chain", b(words.trusted(s))))
    revocation = words.REVOCATION[s.revocation.value] if s.integrity else words.NOT_JUDGED
    when = f", {s.revocation_checked_at}" if s.revocation_checked_at and s.integrity else ""
    rows.append(("Thu hồi / Revocation", f"{b(revocation)}{when}"))
    if s.revoked_at:
        rows.append(("Bị thu hồi lúc / Revoked at", s.revoked_at))
    rows.append(("Phạm vi / Coverage", b(words.COVERAGE.get(s.coverage, words.COVERAGE["unknown"]))))
    rows.append(("Thay đổi sau khi ký / Changed after", b(words.changes_after(s, report))))
    if s.pades_level:
        rows.append(("Mức PAdES / PAdES level", s.pades_level))
    if s.certification:
        certification = words.CERTIFICATION.get(s.certification, (s.certification, s.certification))
        rows.append(("Chữ ký chứng nhận / Certification", b(certification)))
    rows += [("Kỹ thuật / Technical", b(words.technical(line))) for line in s.reasons]
    rows += [("Cảnh báo / Warning", b(words.technical(warning))) for warning in s.warnings]
    rows += trust_lines(s)
    return rows


def _all_test_pki(report: VerificationReport) -> bool:
    return bool(report.signatures) and all(s.field in report.test_pki_fields for s in report.signatures)


def issued_line(record: IssuedRecord) -> str:
    """What the registry says of the upload, both languages."""
    named = record.organization and record.organization != record.signer_name
    org = f", {record.organization}" if named else ""
    ref = f" số {record.reference_number}" if record.reference_number else ""
    vi, en = words.ISSUED.get(record.relation, words.ISSUED["same"])
    by = ", ".join(record.added_by) or "—"
    values = {"signer": record.signer_name, "org": org + ref, "at": record.signed_at, "by": by}
    return f"{vi.format(**values)} / {en.format(**values)} (id {record.id}, #{record.revision})"


def text(report: VerificationReport) -> str:
    out = [
        "BÁO CÁO KIỂM TRA CHỮ KÝ SỐ / SIGNATURE VERIFICATION REPORT",
        f"SHA-256: {report.sha256}  ({report.size:,} bytes)",
        f"Danh sách tin cậy / Trust list: {report.trust_list}",
        *report_lines(report),
        f"Thời điểm kiểm tra / Checked at: {report.validated_at}",
    ]
    for record in report.issued_by_us:
        out.append(f"Do Kyso ký / Issued by us: {issued_line(record)}")
    if report.test_pki_fields:
        out.append(f"Lưu ý / Note: {words.both(words.TEST_PKI)}")
    if not report.signatures:
        out.append("Không tìm thấy chữ ký nào / No signature found.")
    for number, signature in enumerate(report.signatures, start=1):
        out.append("")
        out.append(f"#{number} {signature.field}")
        width = 40
        out += [f"  {label:<{width}} {value}" for label, value in signature_lines(number, signature, report)]
    for warning in report.warnings:
        out.append(f"Cảnh báo / Warning: {words.both(words.technical(warning))}")
    if report.signatures:
        out.append("")
        out += overall_lines(report)
    return "\n".join(out) + "\n"


def overall_lines(report: VerificationReport) -> list[str]:
    """The document's one conclusion (words.document_verdict) and the reason that decides it."""
    verdict, because = words.document_verdict(report)
    if verdict is None:
        return ["KẾT LUẬN / OVERALL: không có chữ ký / no signature"]
    vi, en = VERDICT[verdict]
    lines = [f"KẾT LUẬN / OVERALL: {vi} / {en} ({verdict.value})"]
    if because is not None:
        lines.append(f"Lý do / Reason: {words.both(because)}")
    return lines


def html(report: VerificationReport) -> str:
    e = escape
    parts = [
        "<section class='report'>",
        f"<p>SHA-256: <code>{e(report.sha256)}</code> · {report.size:,} bytes · "
        f"Danh sách tin cậy / Trust list: {e(report.trust_list)} · {e(report.validated_at)}</p>",
        *(f"<p class='trust'>{e(line)}</p>" for line in report_lines(report)),
    ]
    verdict, because = words.document_verdict(report)
    if verdict is not None:
        vi, en = VERDICT[verdict]
        parts.append(f"<h2 class='verdict {e(en)}'>{e(vi)} / {e(en)}</h2>")
        if because is not None:
            parts.append(f"<p class='reason'>{e(words.both(because))}</p>")
    for record in report.issued_by_us:
        parts.append(f"<p class='issued'>Do Kyso ký / Issued by this service: {e(issued_line(record))}</p>")
    if report.test_pki_fields:
        parts.append(f"<p class='warning'>{e(words.both(words.TEST_PKI))}</p>")
    if not report.signatures:
        parts.append("<p>Không tìm thấy chữ ký nào / No signature found.</p>")
    for number, signature in enumerate(report.signatures, start=1):
        parts.append(f"<h3>#{number} {e(signature.field)}</h3><table>")
        parts += [
            f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in signature_lines(number, signature, report)
        ]
        parts.append("</table>")
    parts += [f"<p class='warning'>{e(words.both(words.technical(w)))}</p>" for w in report.warnings]
    parts.append("</section>")
    return "\n".join(parts)


# --- the trust profiles, the anchor reached and the validation policy (profiles.py, policy.py) -----------
_RESULTS = (
    ("failed", "không đạt / not met"),
    ("warning", "cảnh báo / warning"),
    ("information", "thông tin / information"),
)


def report_lines(report: VerificationReport) -> list[str]:
    """The trust profiles in force and the validation policy, as the report's header names them."""
    lines = []
    if report.trust_profiles:
        lines.append(f"Hồ sơ tin cậy / Trust profiles: {', '.join(report.trust_profiles)}")
    if report.policy:
        lines.append(f"Chính sách kiểm tra / Validation policy: {report.policy} v{report.policy_version}")
    return lines


def trust_lines(s: SignatureReport) -> list[tuple[str, str]]:
    """The anchor the chain ended in, and the policy's checks this signature did not fully meet (their
    details are among its reasons and warnings)."""
    rows = []
    if s.trust_anchor is not None:
        a = s.trust_anchor
        profile = f", {a.profile}" if a.profile else ""
        subject = words.issuer(a.subject) or a.subject  # without asn1crypto's English labels
        rows.append(("Gốc tin cậy / Trust anchor", f"{subject} (SHA-256 {a.sha256}{profile})"))
    if s.policy_results:
        parts = [
            f"{label}: " + ", ".join(f"{r.id} ({r.level})" for r in s.policy_results if r.result == result)
            for result, label in _RESULTS
            if any(r.result == result for r in s.policy_results)
        ]
        rows.append(("Chính sách / Policy", "; ".join(parts) or "đạt / met"))
    return rows
