"""Why a desk turned a guest away: a stable machine code, words a guard understands, and English.

The code is what integrators and the audit log rely on; the Vietnamese text is what the desk shows.
"""

from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    NOT_OURS = "not_ours"  # no "KY1:"/"KR1:" prefix: another QR (a bank transfer, a web address…)
    MALFORMED = "malformed"  # our prefix, but damaged: bad base45, bad CBOR, wrong structure
    BAD_ALGORITHM = "bad_algorithm"  # a signature algorithm we do not accept
    UNKNOWN_KEY = "unknown_key"  # the key id names no key we trust (never known, or retired)
    FORGED = "forged"  # the signature does not verify
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_VENUE = "wrong_venue"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # the invitation was amended; only its newest QR works
    USED = "used"  # every entry of this occurrence was used
    UNKNOWN_INVITATION = "unknown_invitation"  # signed by us, but no such invitation (deleted, or a test)
    ROTATING_CODE_MISSING = "rotating_code_missing"  # a still image of a pass that must be shown live
    ROTATING_CODE_INVALID = "rotating_code_invalid"  # the changing code is old: a forwarded screenshot
    CCCD_MISMATCH = "cccd_mismatch"  # the ID card scanned beside the pass is someone else's
    NO_QR = "no_qr"  # the photo holds no readable QR code
    HELD = "held"  # on the block list: keep the guest at the desk until an approver decides
    HOLD_REFUSED = "hold_refused"  # on the block list, and the approver refused


VIETNAMESE: dict[Reason, str] = {
    Reason.NOT_OURS: "Không phải mã thư mời (mã QR khác)",
    Reason.MALFORMED: "Mã QR hỏng, không đọc được",
    Reason.BAD_ALGORITHM: "Chữ ký dùng thuật toán không được chấp nhận — giả mạo",
    Reason.UNKNOWN_KEY: "Khoá không xác định",
    Reason.FORGED: "Giả mạo — chữ ký không hợp lệ",
    Reason.NOT_YET_VALID: "Chưa đến giờ",
    Reason.EXPIRED: "Đã hết hạn",
    Reason.WRONG_VENUE: "Sai địa điểm",
    Reason.CANCELLED: "Đã bị huỷ",
    Reason.SUPERSEDED: "Thư mời đã được sửa — dùng mã mới nhất",
    Reason.USED: "Đã sử dụng",
    Reason.UNKNOWN_INVITATION: "Không tìm thấy thư mời",
    Reason.ROTATING_CODE_MISSING: "Cần mã QR động trên điện thoại, không nhận ảnh chụp",
    Reason.ROTATING_CODE_INVALID: "Mã QR động đã hết hạn (ảnh chụp màn hình?)",
    Reason.CCCD_MISMATCH: "CCCD không khớp với thư mời",
    Reason.NO_QR: "Không tìm thấy mã QR trong ảnh",
    Reason.HELD: "Giữ khách tại bàn — chờ người phê duyệt",
    Reason.HOLD_REFUSED: "Người phê duyệt đã từ chối",
}

ENGLISH: dict[Reason, str] = {
    Reason.NOT_OURS: "not an invitation code (another kind of QR)",
    Reason.MALFORMED: "the code is damaged and cannot be read",
    Reason.BAD_ALGORITHM: "signed with an algorithm that is not accepted",
    Reason.UNKNOWN_KEY: "signed with an unknown or retired key",
    Reason.FORGED: "forged: the signature does not verify",
    Reason.NOT_YET_VALID: "not valid yet",
    Reason.EXPIRED: "expired",
    Reason.WRONG_VENUE: "for another venue",
    Reason.CANCELLED: "cancelled",
    Reason.SUPERSEDED: "replaced by an amended invitation; use the newest code",
    Reason.USED: "already used",
    Reason.UNKNOWN_INVITATION: "no such invitation",
    Reason.ROTATING_CODE_MISSING: "the live (rotating) code is required, not a still image",
    Reason.ROTATING_CODE_INVALID: "the rotating code is out of date (a forwarded screenshot?)",
    Reason.CCCD_MISMATCH: "the ID card does not match the invitation",
    Reason.NO_QR: "no QR code found in the image",
    Reason.HELD: "held at the desk until an approver decides (block list)",
    Reason.HOLD_REFUSED: "refused by the approver (block list)",
}

ADMIT_VIETNAMESE = "Mời vào"

# What the guard does next, per reason: the one mapping the desk page, the API ("next_action") and the CLI
# show, and docs/desk.md's "what to do" column (tests/invitations/test_reasons.py keeps them equal).
NEXT_ACTION: dict[Reason, str] = {
    Reason.NOT_YET_VALID: "Mời khách chờ, hoặc gọi người mời",
    Reason.EXPIRED: "Gọi người mời",
    Reason.WRONG_VENUE: "Chỉ đường đến đúng địa điểm",
    Reason.CANCELLED: "Gọi người mời",
    Reason.SUPERSEDED: "Khách mở email mới nhất để lấy mã mới",
    Reason.USED: "Có thể người khác giữ bản sao: gọi người mời",
    Reason.FORGED: "Từ chối; báo cáo sự việc",
    Reason.BAD_ALGORITHM: "Từ chối; báo cáo sự việc",
    Reason.UNKNOWN_KEY: "Từ chối; gọi người mời",
    Reason.MALFORMED: "Quét lại; tăng độ sáng màn hình",
    Reason.NOT_OURS: "Đề nghị khách đưa mã thư mời",
    Reason.UNKNOWN_INVITATION: "Gọi người mời",
    Reason.ROTATING_CODE_MISSING: "Đề nghị khách mở trang thư mời trên điện thoại",
    Reason.ROTATING_CODE_INVALID: "Đề nghị khách mở trang thư mời trực tiếp",
    Reason.CCCD_MISMATCH: "Từ chối; gọi người mời",
    Reason.NO_QR: "Quét lại",
    Reason.HELD: "Mời khách chờ tại bàn; báo người phê duyệt, quét lại sau khi có quyết định",
    Reason.HOLD_REFUSED: "Không cho vào; gọi người mời",
}

NEXT_ACTION_EN: dict[Reason, str] = {
    Reason.NOT_YET_VALID: "ask them to wait, or call the host",
    Reason.EXPIRED: "call the host",
    Reason.WRONG_VENUE: "give directions",
    Reason.CANCELLED: "call the host",
    Reason.SUPERSEDED: "the guest should open the newest email",
    Reason.USED: "someone else may hold a copy: call the host",
    Reason.FORGED: "refuse; report it",
    Reason.BAD_ALGORITHM: "refuse; report it",
    Reason.UNKNOWN_KEY: "refuse; call the host",
    Reason.MALFORMED: "scan again; brighter screen",
    Reason.NOT_OURS: "ask for the invitation",
    Reason.UNKNOWN_INVITATION: "call the host",
    Reason.ROTATING_CODE_MISSING: "ask for the pass page on their phone",
    Reason.ROTATING_CODE_INVALID: "ask for the live pass page",
    Reason.CCCD_MISMATCH: "refuse; call the host",
    Reason.NO_QR: "scan again",
    Reason.HELD: "keep the guest at the desk; tell the approver; scan again once decided",
    Reason.HOLD_REFUSED: "do not admit; call the host",
}
ADMIT_NEXT_ACTION = "Mời khách vào; người mời đã được báo"
ADMIT_NEXT_ACTION_EN = "let them in; the host is told"
