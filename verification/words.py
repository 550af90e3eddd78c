"""The words of a verdict, in one place: every ETSI EN 319 102-1 sub-indication, every kind of change
after signing and every fact a report shows, as a plain sentence in Vietnamese and in English.

The pages (api/pages/verify.py), the text and HTML reports and the sealed PDF report (verification/render.py,
verification/pdf_report.py) and ``kyso verify`` all say what this module says, so a verdict reads the same
wherever a citizen meets it. Every entry is ``(vi, en)``. Tone marks follow the modern convention
(hoà, thuỷ, khoá: the mark on the second vowel of oa, oe, uy), as the templates do.
"""

from __future__ import annotations

import re

from verification.report import Indication, SignatureReport, VerificationReport

Words = tuple[str, str]

VERDICT: dict[Indication, Words] = {
    Indication.TOTAL_PASSED: ("HỢP LỆ", "VALID"),
    Indication.TOTAL_FAILED: ("KHÔNG HỢP LỆ", "NOT VALID"),
    Indication.INDETERMINATE: ("CHƯA XÁC ĐỊNH", "INDETERMINATE"),
}

CHANGED_AFTER_SIGNING: Words = (
    "Văn bản đã bị thay đổi sau khi ký.",
    "The document was changed after it was signed.",
)

# ETSI EN 319 102-1 §5.1.3 (tables 5 and 6): every sub-indication of TOTAL-FAILED and INDETERMINATE, which
# are pyHanko's AdESFailure and AdESIndeterminate (tests/verification/test_words.py checks none is missing)
SUB_INDICATION: dict[str, Words] = {
    "FORMAT_FAILURE": (
        "Chữ ký bị hỏng hoặc không đúng định dạng, hoặc không bao trùm toàn bộ phần đã ký.",
        "The signature is damaged, not in a valid format, or does not cover what it signed.",
    ),
    "HASH_FAILURE": (
        "Tệp đã bị sửa sau khi ký: phần đã ký không còn khớp với chữ ký (không toàn vẹn).",
        "The file was changed after signing: the signed bytes no longer match the signature "
        "(integrity failed).",
    ),
    "SIG_CRYPTO_FAILURE": (
        "Chữ ký không khớp với chứng thư của người ký (chữ ký giả hoặc hỏng).",
        "The signature does not match the signer's certificate (forged or damaged).",
    ),
    "REVOKED": (
        "Chứng thư của người ký đã bị thu hồi trước thời điểm ký.",
        "The signer's certificate was revoked before the signing time.",
    ),
    "NOT_YET_VALID": (
        "Chữ ký được tạo trước khi chứng thư của người ký có hiệu lực.",
        "The signature was made before the signer's certificate became valid.",
    ),
    "SIG_CONSTRAINTS_FAILURE": (
        "Chữ ký không đáp ứng ràng buộc đặt ra cho nó (quyền thay đổi văn bản hoặc chính sách ký).",
        "The signature does not meet the constraints set for it (document permissions or signing policy).",
    ),
    "CHAIN_CONSTRAINTS_FAILURE": (
        "Chuỗi chứng thư không đúng quy định (mục đích sử dụng khoá hoặc độ dài chuỗi).",
        "The certificate chain breaks its constraints (key usage or path length).",
    ),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": (
        "Không kiểm tra được chuỗi chứng thư của người ký.",
        "The signer's certificate chain could not be checked.",
    ),
    "CRYPTO_CONSTRAINTS_FAILURE": (
        "Thuật toán hoặc độ dài khoá của chữ ký không còn được chấp nhận.",
        "The signature's algorithm or key size is no longer accepted.",
    ),
    "EXPIRED": ("Chứng thư của người ký đã hết hạn.", "The signer's certificate has expired."),
    "POLICY_PROCESSING_ERROR": (
        "Không xử lý được chính sách kiểm tra chữ ký.",
        "The validation policy could not be processed.",
    ),
    "SIGNATURE_POLICY_NOT_AVAILABLE": (
        "Không có chính sách ký mà chữ ký yêu cầu.",
        "The signature policy the signature names is not available.",
    ),
    "TIMESTAMP_ORDER_FAILURE": (
        "Các dấu thời gian trong chữ ký không đúng thứ tự.",
        "The timestamps in the signature are out of order.",
    ),
    "NO_SIGNING_CERTIFICATE_FOUND": (
        "Không tìm thấy chứng thư của người ký trong chữ ký.",
        "The signer's certificate was not found in the signature.",
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": (
        "Chứng thư của người ký không do tổ chức cấp tin cậy cấp.",
        "The signer's certificate was not issued by a trusted authority.",
    ),
    "REVOKED_NO_POE": (
        "Chứng thư đã bị thu hồi và không có dấu thời gian chứng minh chữ ký có trước.",
        "The certificate is revoked and no timestamp proves the signature came first.",
    ),
    "REVOKED_CA_NO_POE": (
        "Chứng thư của tổ chức cấp đã bị thu hồi và không có dấu thời gian chứng minh chữ ký có trước.",
        "The issuing authority's certificate is revoked and no timestamp proves the signature came first.",
    ),
    "OUT_OF_BOUNDS_NO_POE": (
        "Chứng thư đã hết hạn (hoặc chưa có hiệu lực) và không có dấu thời gian chứng minh chữ ký được tạo "
        "khi chứng thư còn hiệu lực.",
        "The certificate has expired (or is not yet valid) and no timestamp proves the signature was made "
        "while it was valid.",
    ),
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": (
        "Dữ liệu thu hồi không còn hiệu lực và không có dấu thời gian chứng minh chữ ký có trước.",
        "The revocation data is out of date and no timestamp proves the signature came first.",
    ),
    "OUT_OF_BOUNDS_NOT_REVOKED": (
        "Chứng thư đã hết hạn nhưng chưa bị thu hồi; cần dấu thời gian để xác nhận chữ ký.",
        "The certificate has expired but is not revoked; a timestamp is needed to confirm the signature.",
    ),
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": (
        "Thuật toán của chữ ký không còn an toàn và không có dấu thời gian chứng minh chữ ký có trước.",
        "The signature's algorithm is no longer safe and no timestamp proves the signature came first.",
    ),
    "NO_POE": (
        "Không có bằng chứng về thời điểm chữ ký tồn tại.",
        "There is no proof of when the signature existed.",
    ),
    "TRY_LATER": (
        "Chưa kiểm tra được chứng thư có bị thu hồi hay không. Hãy thử lại sau.",
        "Could not yet check whether the certificate is revoked. Try again later.",
    ),
    "SIGNED_DATA_NOT_FOUND": (
        "Không tìm thấy dữ liệu mà chữ ký xác nhận.",
        "The data the signature signs was not found.",
    ),
    "GENERIC": ("Không xác nhận được chữ ký.", "The signature could not be confirmed."),
}
UNKNOWN_SUB_INDICATION: Words = ("Không xác nhận được chữ ký.", "The signature could not be confirmed.")

# after a signature, what the rest of the file changed (SignatureReport.modification, pyHanko's levels)
MODIFICATION: dict[str, Words] = {
    "none": ("Không có thay đổi", "No change"),
    "lta-updates": ("Chỉ bổ sung dữ liệu kiểm tra dài hạn", "Only long-term validation data added"),
    "form-filling": ("Thêm chữ ký hoặc điền biểu mẫu", "Signatures added or form fields filled in"),
    "annotations": ("Thêm ghi chú vào văn bản", "Annotations added"),
    "other": ("Văn bản đã bị thay đổi sau khi ký", "The document was changed after it was signed"),
}

# what one revision of the file did (RevisionFacts.change, verification/revisions.py)
REVISION_CHANGE: dict[str, Words] = {
    "original": ("Văn bản gốc", "The original document"),
    "signature": ("Thêm chữ ký hoặc dấu", "A signature or seal added"),
    "timestamp": ("Thêm dấu thời gian tài liệu", "A document timestamp added"),
    "validation-data": ("Bổ sung dữ liệu kiểm tra dài hạn", "Long-term validation data added"),
    "form-filling": ("Điền biểu mẫu", "Form fields filled in"),
    "annotations": ("Thêm ghi chú vào văn bản", "Annotations added"),
    "content": ("Thay đổi nội dung văn bản", "The content was changed"),
}

REVOCATION: dict[str, Words] = {
    "embedded": (
        "Đã kiểm tra (dữ liệu OCSP/CRL kèm trong tệp)",
        "Checked (OCSP/CRL data embedded in the file)",
    ),
    "fetched": ("Đã kiểm tra (hỏi dịch vụ OCSP)", "Checked (asked the OCSP responder)"),
    "not-checked": ("KHÔNG kiểm tra được", "NOT checked"),
}
COVERAGE: dict[str, Words] = {
    "entire-file": ("Toàn bộ tệp", "The entire file"),
    "entire-revision": ("Toàn bộ phiên bản đã ký của tệp", "The entire signed revision of the file"),
    "partial": ("Một phần (có khoảng trống)", "Part of the file (with gaps)"),
    "unknown": ("Không xác định", "Unknown"),
}
KIND: dict[str, Words] = {
    "signature": ("Chữ ký số", "Signature"),
    "seal": ("Dấu của cơ quan", "Agency seal"),
    "document-timestamp": ("Dấu thời gian tài liệu", "Document timestamp"),
}
TIME_SOURCE: dict[str, Words] = {
    "timestamp": ("theo dấu thời gian", "from a trusted timestamp"),
    "claimed": ("do phần mềm ký khai, chưa được xác nhận", "claimed by the signing software, unproven"),
    "none": ("", ""),
}
CERTIFICATION: dict[str, Words] = {
    "no-changes": ("Chữ ký chứng nhận: không cho phép thay đổi", "Certification: no changes allowed"),
    "fill-forms": ("Chữ ký chứng nhận: cho phép điền biểu mẫu", "Certification: form filling allowed"),
    "annotate": (
        "Chữ ký chứng nhận: cho phép điền biểu mẫu và ghi chú",
        "Certification: forms and annotations",
    ),
}
NO_SIGNATURE: Words = ("Không tìm thấy chữ ký nào trong tệp.", "No signature found in this file.")
VALID_FOR_SIGNED_VERSION: Words = ("HỢP LỆ VỚI BẢN ĐÃ KÝ", "VALID FOR THE SIGNED VERSION")
YES: Words = ("Có", "Yes")
NO: Words = ("KHÔNG", "NO")
NOT_JUDGED: Words = ("không đánh giá được", "cannot be judged")
NOT_JUDGED_WHY: Words = (
    "không đánh giá được vì phần đã ký không còn nguyên vẹn",
    "cannot be judged: the signed bytes are not intact",
)
TEST_PKI: Words = (
    "Chứng thư do CA thử nghiệm của Kyso cấp — không có giá trị pháp lý.",
    "The certificate was issued by Kyso's test CA — it has no legal standing.",
)

# the relation of an upload to a registered document (IssuedRecord.relation; the /verify/<id> page)
RELATION: dict[str, Words] = {
    "same": (
        "Đúng bản đã ký dưới mã này: tệp trùng khớp với văn bản Kyso đã ký.",
        "Same document as signed under this id: the file matches what this service signed.",
    ),
    "signed-after": (
        "Đây là văn bản đã ký dưới mã này, được đóng dấu sau đó bởi {by}.",
        "This is the document signed under this id, sealed afterwards by {by}.",
    ),
    "changed-after": CHANGED_AFTER_SIGNING,
    "earlier": (
        "Đây là bản trước khi ký dưới mã này: chữ ký hoặc dấu mang mã này được thêm sau đó.",
        "This is the document before the signature this id names was added.",
    ),
    "different": (
        "KHÔNG phải văn bản đã ký dưới mã này: tệp khác với bản Kyso đã ký.",
        "NOT the document signed under this id: the file differs from what this service signed.",
    ),
}
ISSUED: dict[str, Words] = {
    "same": (
        "Tệp này trùng khớp với văn bản Kyso đã ký: {signer}{org}, lúc {at}.",
        "This file matches a document this service signed: {signer}{org}, at {at}.",
    ),
    "signed-after": (
        "Đây là văn bản Kyso đã ký ({signer}{org}, lúc {at}), được đóng dấu sau đó bởi {by}.",
        "This is a document this service signed ({signer}{org}, at {at}), sealed afterwards by {by}.",
    ),
    "changed-after": (
        "Kyso đã ký một bản trước đó của văn bản này ({signer}{org}, lúc {at}), không phải bản này.",
        "This service signed an earlier version of this document ({signer}{org}, at {at}), not this one.",
    ),
}

# the validator's technical lines (verification/validate.py, in English) in Vietnamese; a line not listed
# is shown as it is. Prefixes, because some end with a date.
TECHNICAL: list[tuple[str, str]] = [
    ("the signed bytes were changed after signing", "phần đã ký đã bị sửa sau khi ký"),
    (
        "the document was changed after this signature beyond signing",
        "văn bản đã bị thay đổi sau chữ ký này, ngoài việc ký, điền biểu mẫu và ghi chú; chữ ký phê duyệt "
        "(không chứng nhận, không khoá trường) cho phép cập nhật về sau, nên chỉ phiên bản chữ ký này bao "
        "trùm là bản người ký đã ký: hãy so sánh với tệp",
    ),
    (
        "the changes made to the document after this signature could not be analysed",
        "không phân tích được các thay đổi sau chữ ký này; chỉ phiên bản chữ ký bao trùm là bản đã ký",
    ),
    (
        "the signer restricted later changes, and the changes made after signing could not be analysed",
        "người ký đã giới hạn thay đổi về sau, và không phân tích được các thay đổi sau khi ký",
    ),
    ("the cryptographic signature does not verify", "chữ ký mật mã không khớp"),
    ("the signature does not cover its whole revision", "chữ ký không bao trùm toàn bộ phiên bản của nó"),
    (
        "the document was changed after signing in a way the signer did not allow",
        "văn bản đã bị thay đổi sau khi ký theo cách người ký không cho phép",
    ),
    ("the certificate was revoked on", "chứng thư đã bị thu hồi vào"),
    (
        "revocation status not checked",
        "không kiểm tra được tình trạng thu hồi: tệp không kèm dữ liệu OCSP/CRL",
    ),
    (
        "the signing time is the one the signer's software claimed",
        "thời điểm ký là thời điểm phần mềm ký tự khai (không có dấu thời gian)",
    ),
    (
        "the signature timestamp is not valid or not trusted",
        "dấu thời gian của chữ ký không hợp lệ hoặc không tin cậy",
    ),
    (
        "the certificate is no longer valid today",
        "chứng thư nay đã hết hiệu lực; khi ký (theo dấu thời gian) vẫn còn",
    ),
    (
        "the timestamp authority's certificate or revocation data is no longer current",
        "chứng thư hoặc dữ liệu thu hồi của tổ chức cấp dấu thời gian không còn hiện hành",
    ),
    ("the timestamped bytes were changed", "phần được đóng dấu thời gian đã bị sửa"),
    ("the timestamp's signature does not verify", "chữ ký của dấu thời gian không khớp"),
    (
        "revocation status of the timestamp authority not checked",
        "không kiểm tra được tình trạng thu hồi của tổ chức cấp dấu thời gian",
    ),
    (
        "the certificate does not chain to an anchor of the trust list",
        "chứng thư không dẫn tới tổ chức cấp nào trong danh sách tin cậy",
    ),
    ("the certificate has expired", "chứng thư đã hết hạn"),
    ("the certificate chain breaks a constraint", "chuỗi chứng thư vi phạm ràng buộc"),
    (
        "the certificate is revoked and no timestamp proves",
        "chứng thư đã bị thu hồi và không có dấu thời gian chứng minh",
    ),
    ("revocation status could not be established", "không xác định được tình trạng thu hồi"),
    ("the certificate chain could not be validated", "không kiểm tra được chuỗi chứng thư"),
    ("the signature cannot be decoded", "không đọc được chữ ký"),
    ("the signature cannot be validated", "không kiểm tra được chữ ký"),
    ("the OCSP responder did not answer", "dịch vụ OCSP không trả lời"),
    (
        "no revocation data in the file and none fetched",
        "tệp không kèm dữ liệu thu hồi và không hỏi được dịch vụ OCSP",
    ),
]

# asn1crypto's ``Name.human_friendly`` labels ("Common Name: …, Organization: …")
_LABELS = re.compile(r"(?:^|, )([A-Z][A-Za-z/ ]+): ")


def pick(words: Words, language: str) -> str:
    return words[1] if language == "en" else words[0]


def both(words: Words) -> str:
    """'vi / en', for the text and PDF reports."""
    return words[0] if words[0] == words[1] else f"{words[0]} / {words[1]}"


def sub_indication(sub: str | None) -> Words:
    return SUB_INDICATION.get(sub or "", UNKNOWN_SUB_INDICATION)


def is_seal(s: SignatureReport) -> bool:
    """An agency's seal: the certificate names an organisation (tax code, no citizen id), not a person."""
    signer = s.signer
    if signer is None or s.kind != "signature" or signer.cccd:
        return False
    return bool(signer.tax_code) or (signer.organization is not None and signer.organization == signer.name)


def kind(s: SignatureReport) -> Words:
    return KIND["seal"] if is_seal(s) else KIND.get(s.kind, KIND["signature"])


EDITS = ("content", "annotations", "form-filling")  # revision changes that are not signing


def edited_after(s: SignatureReport, report: VerificationReport | None = None) -> bool:
    """Whether the document was changed after ``s`` signed it, beyond signatures, seals, timestamps and
    validation data: by the file's revisions when known, else by pyHanko's modification level. (An approval
    signature stays valid for the version it signed; the document shown is then not that version.)"""
    if not s.integrity:
        return False
    later = _later_changes(s, report)
    if later:
        return any(change in EDITS for change in later)
    return s.modification in ("other", "annotations")


def reason(s: SignatureReport, report: VerificationReport | None = None) -> Words | None:
    """The first reason, in plain words, why ``s`` does not vouch for the document as it is; None when it
    does. A change after signing comes first: it is what a citizen must know."""
    if edited_after(s, report) and s.sub_indication in ("SIG_CONSTRAINTS_FAILURE", None):
        return CHANGED_AFTER_SIGNING
    if s.indication is Indication.TOTAL_PASSED:
        return None
    return sub_indication(s.sub_indication)


def signature_verdict(
    s: SignatureReport, report: VerificationReport | None = None
) -> tuple[Indication, Words]:
    """How a signature's card reads: its indication, except that a signature valid for a version the
    document no longer is reads "valid for the signed version" (amber, never green)."""
    if s.indication is Indication.TOTAL_PASSED and edited_after(s, report):
        return Indication.INDETERMINATE, VALID_FOR_SIGNED_VERSION
    return s.indication, VERDICT[s.indication]


def document_verdict(report: VerificationReport) -> tuple[Indication | None, Words | None]:
    """The one conclusion about the document: the worst of its signatures, made TOTAL-FAILED when its
    content was changed after a signature (INDETERMINATE for a form filled in or a note added), with the
    reason that decides it first."""
    if not report.signatures:
        return None, None
    order = [Indication.TOTAL_FAILED, Indication.INDETERMINATE, Indication.TOTAL_PASSED]
    verdicts = [signature_verdict(s, report)[0] for s in report.signatures]
    worst = min(verdicts, key=order.index)
    edited = [s for s in report.signatures if edited_after(s, report)]
    if edited:
        content = any(c == "content" for s in edited for c in _later_changes(s, report)) or any(
            s.modification == "other" for s in edited
        )
        if content:
            worst = Indication.TOTAL_FAILED
        return worst, CHANGED_AFTER_SIGNING
    for s in report.signatures:
        because = reason(s, report)
        if because is not None:
            return worst, because
    return worst, None


def _later_changes(s: SignatureReport, report: VerificationReport | None) -> list[str]:
    """The changes of the revisions after the one ``s`` signed, when the file's revisions are known."""
    if report is None or not report.revisions:
        return []
    mine = next((r for r in report.revisions if r.field == s.field), None)
    if mine is None:
        return []
    return [r.change for r in report.revisions if r.number > mine.number]


def signer_of(report: VerificationReport, field: str) -> str | None:
    found = next((s for s in report.signatures if s.field == field), None)
    return found.signer.name if found is not None and found.signer is not None else None


def changes_after(s: SignatureReport, report: VerificationReport | None = None) -> Words:
    """What the file changed after ``s`` signed it: the later revisions when known (who signed or sealed
    afterwards), else pyHanko's modification level; 'cannot be judged' when the signature is not intact."""
    if not s.integrity:
        return NOT_JUDGED
    if report is not None and report.revisions and any(r.field == s.field for r in report.revisions):
        mine = next(r for r in report.revisions if r.field == s.field)
        later = [r for r in report.revisions if r.number > mine.number]
        if not later:
            return MODIFICATION["none"]
        vi, en = [], []
        for change in dict.fromkeys(r.change for r in later):
            words = REVISION_CHANGE[change] if change in REVISION_CHANGE else MODIFICATION["other"]
            if change == "signature":
                names = [signer_of(report, r.field) for r in later if r.change == "signature" and r.field]
                named = ", ".join(n for n in dict.fromkeys(names) if n)
                words = (f"{words[0]} ({named})", f"{words[1]} ({named})") if named else words
            vi.append(words[0])
            en.append(words[1])
        return "; ".join(vi), "; ".join(en)
    if s.modification:
        return MODIFICATION.get(s.modification, MODIFICATION["other"])
    if s.coverage == "entire-file":
        return MODIFICATION["none"]  # a signature over the entire file: nothing can have been added after it
    return ("—", "—")


def integrity(s: SignatureReport) -> Words:
    return YES if s.integrity else NO


def trusted(s: SignatureReport) -> Words:
    """Whether the chain is trusted; not judged when the signed bytes failed (the chain says nothing then)."""
    if not s.integrity:
        return NOT_JUDGED
    return YES if s.trusted else NO


def issuer(human_friendly: str | None) -> str | None:
    """An issuer's name without asn1crypto's English labels: 'Kyso Government CA (Kyso Test PKI, VN)'."""
    if not human_friendly:
        return None
    parts = _LABELS.split(human_friendly)
    # split gives ['', label, value, label, value, ...] when the text starts with a label
    if len(parts) < 3 or parts[0]:
        return human_friendly
    values = dict(zip(parts[1::2], parts[2::2], strict=False))
    name = values.get("Common Name") or values.get("Organization") or human_friendly
    rest = [values[k] for k in ("Organization", "Country") if k in values and values[k] != name]
    return f"{name} ({', '.join(rest)})" if rest else name


def technical(line: str) -> Words:
    """A validator's technical line (English) with its Vietnamese, when it is a known one. A line that
    carries its own Vietnamese after " / " is split there."""
    english, _, own = line.partition(" / ")
    for prefix, vi in TECHNICAL:
        if english.startswith(prefix):
            return (vi + _tail(english[len(prefix) :]), english)
    if own:
        return (own, english)
    return (line, line)


def _tail(rest: str) -> str:
    """Keep a date at the end of a line (after 'revoked on'), drop the English wording around it."""
    found = re.search(r"\d{4}-\d{2}-\d{2}T[\d:.+-]+", rest)
    return f" {found.group(0)}" if found else ""


def verdict(indication: Indication) -> Words:
    return VERDICT[indication]
