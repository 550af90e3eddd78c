"""The report for people: a text report (Vietnamese, with English alongside) and an HTML page (escaped)."""

from __future__ import annotations

from html import escape

from verification.report import Indication, SignatureReport, VerificationReport

VERDICT = {
    Indication.TOTAL_PASSED: ("HỢP LỆ", "valid"),
    Indication.TOTAL_FAILED: ("KHÔNG HỢP LỆ", "invalid"),
    Indication.INDETERMINATE: ("CHƯA XÁC ĐỊNH", "indeterminate"),
}
REVOCATION = {
    "embedded": ("dữ liệu OCSP/CRL kèm trong tệp", "OCSP/CRL embedded in the file"),
    "fetched": ("hỏi dịch vụ OCSP khi kiểm tra", "fetched from the OCSP responder"),
    "not-checked": ("KHÔNG kiểm tra được", "NOT checked"),
}


def _yes(value: bool) -> str:
    return "có / yes" if value else "KHÔNG / NO"


def signature_lines(number: int, s: SignatureReport) -> list[tuple[str, str]]:
    vi, en = VERDICT[s.indication]
    rows = [
        (
            "Kết luận / Result",
            f"{vi} / {en} ({s.indication.value}{' / ' + s.sub_indication if s.sub_indication else ''})",
        ),
        (
            "Loại / Kind",
            "chữ ký / signature" if s.kind == "signature" else "dấu thời gian tài liệu / document timestamp",
        ),
    ]
    if s.signer is not None:
        rows.append(("Người ký / Signer", s.signer.name))
        if s.signer.cccd:
            rows.append(("Số CCCD / Citizen ID", s.signer.cccd))
        if s.signer.tax_code:
            rows.append(("Mã số thuế / Tax code", s.signer.tax_code))
        if s.signer.organization and s.signer.organization != s.signer.name:
            rows.append(("Cơ quan / Organisation", s.signer.organization))
    if s.issuer:
        rows.append(("Tổ chức cấp / Issuer", s.issuer))
    if s.signing_time:
        source = {"timestamp": "dấu thời gian / timestamp", "claimed": "do phần mềm ký khai / claimed"}.get(
            s.signing_time_source, ""
        )
        rows.append(("Thời điểm ký / Signing time", f"{s.signing_time} ({source})"))
    if s.timestamp is not None:
        rows.append(("Dấu thời gian / Timestamp", f"{s.timestamp.authority}, {s.timestamp.time}"))
    rows.append(("Toàn vẹn / Integrity", _yes(s.integrity)))
    rows.append(("Tin cậy / Trusted chain", _yes(s.trusted)))
    r_vi, r_en = REVOCATION[s.revocation.value]
    when = f", {s.revocation_checked_at}" if s.revocation_checked_at else ""
    rows.append(("Thu hồi / Revocation", f"{r_vi} / {r_en}{when}"))
    if s.revoked_at:
        rows.append(("Bị thu hồi lúc / Revoked at", s.revoked_at))
    rows.append(("Phạm vi / Coverage", s.coverage))
    if s.modification:
        rows.append(("Thay đổi sau khi ký / Changed after", s.modification))
    if s.pades_level:
        rows.append(("Mức PAdES / PAdES level", s.pades_level))
    if s.certification:
        rows.append(("Chữ ký chứng nhận / Certification", s.certification))
    rows += [("Lý do / Reason", reason) for reason in s.reasons]
    rows += [("Cảnh báo / Warning", warning) for warning in s.warnings]
    rows += trust_lines(s)
    return rows


def text(report: VerificationReport) -> str:
    out = [
        "BÁO CÁO KIỂM TRA CHỮ KÝ SỐ / SIGNATURE VERIFICATION REPORT",
        f"SHA-256: {report.sha256}  ({report.size:,} bytes)",
        f"Danh sách tin cậy / Trust list: {report.trust_list}",
        *report_lines(report),
        f"Thời điểm kiểm tra / Checked at: {report.validated_at}",
    ]
    for record in report.issued_by_us:
        org = f", {record.organization}" if record.organization else ""
        ref = f" số {record.reference_number}" if record.reference_number else ""
        out.append(
            f"Do Kyso ký / Issued by us: {record.signer_name}{org}{ref}, {record.signed_at} (id {record.id})"
        )
    if not report.signatures:
        out.append("Không tìm thấy chữ ký nào / No signature found.")
    for number, signature in enumerate(report.signatures, start=1):
        out.append("")
        out.append(f"#{number} {signature.field}")
        width = 36
        out += [f"  {label:<{width}} {value}" for label, value in signature_lines(number, signature)]
    for warning in report.warnings:
        out.append(f"Cảnh báo / Warning: {warning}")
    if report.signatures:
        verdict = report.indication
        vi, en = VERDICT[verdict]
        out.append("")
        out.append(f"KẾT LUẬN / OVERALL: {vi} / {en} ({verdict.value})")
    return "\n".join(out) + "\n"


def html(report: VerificationReport) -> str:
    e = escape
    parts = [
        "<section class='report'>",
        f"<p>SHA-256: <code>{e(report.sha256)}</code> · {report.size:,} bytes · "
        f"Danh sách tin cậy / Trust list: {e(report.trust_list)} · {e(report.validated_at)}</p>",
        *(f"<p class='trust'>{e(line)}</p>" for line in report_lines(report)),
    ]
    if report.indication is not None:
        vi, en = VERDICT[report.indication]
        parts.append(f"<h2 class='verdict {e(en)}'>{e(vi)} / {e(en)}</h2>")
    for record in report.issued_by_us:
        parts.append(
            f"<p class='issued'>Do Kyso ký / Issued by this service: {e(record.signer_name)}"
            f"{', ' + e(record.organization) if record.organization else ''}, {e(record.signed_at)}</p>"
        )
    if not report.signatures:
        parts.append("<p>Không tìm thấy chữ ký nào / No signature found.</p>")
    for number, signature in enumerate(report.signatures, start=1):
        parts.append(f"<h3>#{number} {e(signature.field)}</h3><table>")
        parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in signature_lines(number, signature)]
        parts.append("</table>")
    parts += [f"<p class='warning'>{e(w)}</p>" for w in report.warnings]
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
        rows.append(("Gốc tin cậy / Trust anchor", f"{a.subject} (SHA-256 {a.sha256}{profile})"))
    if s.policy_results:
        parts = [
            f"{label}: " + ", ".join(f"{r.id} ({r.level})" for r in s.policy_results if r.result == result)
            for result, label in _RESULTS
            if any(r.result == result for r in s.policy_results)
        ]
        rows.append(("Chính sách / Policy", "; ".join(parts) or "đạt / met"))
    return rows
