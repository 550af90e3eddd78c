"""Every string the pages show, Vietnamese first, English beside it: ``CATALOGUE[key] = (vi, en)``.

Templates call ``t("key")``; scripts get the strings they need through a ``data-strings`` attribute.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("vi", "en")

CATALOGUE: dict[str, tuple[str, str]] = {
    # frame
    "skip": ("Bỏ qua, đến nội dung chính", "Skip to main content"),
    "language_switch": ("English", "Tiếng Việt"),
    "language_label": ("Chọn ngôn ngữ", "Choose language"),
    "nav_verify": ("Kiểm tra văn bản", "Verify a document"),
    "nav_portal": ("Cổng cán bộ", "Officials' portal"),
    "nav_desk": ("Bàn tiếp đón", "Security desk"),
    "logout": ("Đăng xuất", "Log out"),
    "footer": ("Kyso — chữ ký số và xác thực điện tử", "Kyso — digital signatures and e-authentication"),
    # the landing page (/): Vietnamese first, the other language on a second, smaller line
    "home_title": ("Trang chủ", "Home"),
    "home_heading": ("Chữ ký số và xác thực điện tử", "Digital signatures and e-authentication"),
    "home_intro": ("Chọn việc bạn cần làm.", "Choose what you need to do."),
    "door_verify": ("Kiểm tra văn bản đã ký", "Check a signed document"),
    "door_verify_text": (
        "Dành cho người dân: tệp PDF có chữ ký số có hợp lệ không, ai ký, có bị sửa sau khi ký không.",
        "For citizens: is a signed PDF valid, who signed it, was it changed after signing.",
    ),
    "door_portal": ("Cổng cán bộ", "Officials' portal"),
    "door_portal_text": (
        "Cán bộ, văn thư: ký số văn bản, gửi và quản lý thư mời.",
        "Officials and clerks: sign documents, send and manage invitations.",
    ),
    "door_desk": ("Bàn tiếp đón", "Security desk"),
    "door_desk_text": (
        "Bảo vệ: quét mã QR trên thư mời của khách, danh sách khách hôm nay.",
        "Guards: scan the QR code of a guest's invitation, today's guest list.",
    ),
    "door_docs": ("Tài liệu API", "API documentation"),
    "door_docs_text": (
        "Cho đơn vị tích hợp: các API của dịch vụ, thử trực tiếp (tiếng Anh).",
        "For integrators: the service's API, to read and try out.",
    ),
    "sign_in_needed": ("Cần đăng nhập", "Sign-in required"),
    # login and refusals
    "login_title": ("Đăng nhập", "Log in"),
    "login_intro": (
        "Đăng nhập bằng tên tài khoản, mật khẩu và mã 6 số trong ứng dụng xác thực.",
        "Log in with your username, password and the 6-digit code from your authenticator app.",
    ),
    "username": ("Tên tài khoản", "Username"),
    "password": ("Mật khẩu", "Password"),
    "totp_code": ("Mã xác thực (6 số)", "Authenticator code (6 digits)"),
    "totp_hint": ("Để trống nếu tài khoản không dùng mã.", "Leave empty if your account has no code."),
    "login_button": ("Đăng nhập", "Log in"),
    "login_failed": (
        "Sai tên, mật khẩu hoặc mã xác thực, hoặc tài khoản đang bị khoá.",
        "Wrong username, password or code, or the account is locked.",
    ),
    # choosing a new password (/account/password)
    "change_password": ("Đổi mật khẩu", "Change password"),
    "password_title": ("Đổi mật khẩu", "Change your password"),
    "password_forced": (
        "Tài khoản đang dùng mật khẩu một lần. Hãy chọn mật khẩu của riêng bạn trước khi tiếp tục.",
        "Your account still has a one-time password. Choose your own before you continue.",
    ),
    "password_intro": (
        "Mật khẩu mới có ít nhất 12 ký tự; một câu dễ nhớ là lựa chọn tốt.",
        "The new password needs at least 12 characters; an easy-to-remember sentence works well.",
    ),
    "current_password": ("Mật khẩu hiện tại", "Current password"),
    "new_password": ("Mật khẩu mới", "New password"),
    "new_password_again": ("Nhập lại mật khẩu mới", "New password again"),
    "password_button": ("Đổi mật khẩu", "Change password"),
    "password_mismatch": ("Hai mật khẩu mới không giống nhau.", "The two new passwords differ."),
    "password_changed": ("Đã đổi mật khẩu.", "Your password has been changed."),
    "forbidden_title": ("Không được phép", "Not allowed"),
    "forbidden_text": (
        "Tài khoản của bạn không được dùng trang này.",
        "Your account may not use this page.",
    ),
    "form_expired": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.",
        "The form has expired or is not valid. Reload the page and try again.",
    ),
    "network_error": ("Không kết nối được máy chủ.", "Cannot reach the server."),
    # verify
    "verify_title": ("Kiểm tra chữ ký số", "Verify a signed document"),
    "verify_intro": (
        "Chọn hoặc kéo thả tệp PDF đã ký để kiểm tra: ai ký, khi nào, tệp có bị sửa sau khi ký không.",
        "Pick or drop a signed PDF to check who signed it, when, and whether it changed since.",
    ),
    "verify_record_intro": (
        "Văn bản này do Kyso ký. Tải lên bản bạn nhận được để so sánh.",
        "This document was signed by this service. Upload the copy you received to compare.",
    ),
    "pdf_file": ("Tệp PDF", "PDF file"),
    "drop_here": ("Kéo thả tệp PDF vào đây, hoặc bấm để chọn", "Drop a PDF here, or click to choose"),
    "verify_button": ("Kiểm tra", "Verify"),
    "report_button": ("Tải báo cáo PDF có đóng dấu", "Download the sealed PDF report"),
    "verdict_passed": ("HỢP LỆ", "VALID"),
    "verdict_failed": ("KHÔNG HỢP LỆ", "NOT VALID"),
    "verdict_indeterminate": ("CHƯA XÁC ĐỊNH", "INDETERMINATE"),
    "overall": ("Kết luận chung", "Overall"),
    "no_signatures": ("Không tìm thấy chữ ký nào trong tệp.", "No signature found in this file."),
    "signature_n": ("Chữ ký số {n}", "Signature {n}"),
    "timestamp_n": ("Dấu thời gian tài liệu {n}", "Document timestamp {n}"),
    "signer": ("Người ký", "Signer"),
    "agency": ("Cơ quan", "Agency"),
    "title_role": ("Chức danh", "Title"),
    "issuer": ("Tổ chức cấp chứng thư", "Certificate issuer"),
    "signing_time": ("Thời điểm ký", "Signing time"),
    "time_from_timestamp": ("theo dấu thời gian", "from a trusted timestamp"),
    "time_claimed": ("do phần mềm ký khai, chưa được xác nhận", "claimed by the signing software, unproven"),
    "timestamp": ("Dấu thời gian", "Timestamp"),
    "no_timestamp": ("Không có", "None"),
    "changes": ("Thay đổi sau khi ký", "Changes since signing"),
    "change_none": ("Không có thay đổi", "No change"),
    "change_lta-updates": ("Chỉ bổ sung dữ liệu kiểm tra dài hạn", "Only long-term validation data added"),
    "change_form-filling": ("Điền biểu mẫu", "Form filling"),
    "change_annotations": ("Thêm ghi chú", "Annotations added"),
    "change_other": ("Có thay đổi khác", "Other changes"),
    "integrity": ("Toàn vẹn", "Integrity"),
    "trusted_chain": ("Chuỗi chứng thư tin cậy", "Trusted chain"),
    "revocation": ("Tình trạng thu hồi", "Revocation status"),
    "revocation_embedded": ("Đã kiểm tra (dữ liệu kèm trong tệp)", "Checked (data embedded in the file)"),
    "revocation_fetched": ("Đã kiểm tra (hỏi dịch vụ OCSP)", "Checked (asked the OCSP responder)"),
    "revocation_not-checked": ("KHÔNG kiểm tra được", "Could NOT be checked"),
    "pades_level": ("Mức PAdES", "PAdES level"),
    "yes": ("Có", "Yes"),
    "no": ("KHÔNG", "NO"),
    "why": ("Lý do", "Why"),
    "details": ("Chi tiết kỹ thuật", "Technical details"),
    "issued_by_us": ("Do Kyso ký", "Issued by this service"),
    "issued_by_us_text": (
        "Tệp này trùng khớp với văn bản Kyso đã ký: {signer}{org}, lúc {at}.",
        "This file matches a document this service signed: {signer}{org}, at {at}.",
    ),
    "not_issued_by_us": (
        "Tệp này không có trong sổ văn bản Kyso đã ký.",
        "This file is not in this service's register of signed documents.",
    ),
    "file_facts": ("Tệp", "File"),
    "checked_at": ("Kiểm tra lúc", "Checked at"),
    "record_title": ("Văn bản do Kyso ký", "Document signed by this service"),
    "record_id": ("Mã văn bản", "Document id"),
    "reference_number": ("Số văn bản", "Reference number"),
    "signed_at": ("Thời điểm ký", "Signed at"),
    "level": ("Mức", "Level"),
    "same_document": ("Đúng bản đã ký.", "Same document as signed."),
    "different_document": (
        "KHÔNG phải bản đã ký: tệp khác với bản Kyso đã ký dưới mã này.",
        "NOT the document signed under this id: the file differs.",
    ),
    # plain-words reasons by ETSI sub-indication
    "sub_HASH_FAILURE": (
        "Tệp đã bị sửa sau khi ký: nội dung không còn khớp với chữ ký.",
        "The file was changed after signing: its content no longer matches the signature.",
    ),
    "sub_SIG_CRYPTO_FAILURE": (
        "Chữ ký không khớp với chứng thư của người ký (chữ ký giả hoặc hỏng).",
        "The signature does not match the signer's certificate (forged or damaged).",
    ),
    "sub_FORMAT_FAILURE": (
        "Chữ ký bị hỏng hoặc không đúng định dạng.",
        "The signature is damaged or not in a valid format.",
    ),
    "sub_REVOKED": (
        "Chứng thư của người ký đã bị thu hồi trước khi ký.",
        "The signer's certificate was revoked before signing.",
    ),
    "sub_REVOKED_NO_POE": (
        "Chứng thư đã bị thu hồi và không có dấu thời gian chứng minh chữ ký có trước.",
        "The certificate is revoked and no timestamp proves the signature came first.",
    ),
    "sub_NO_CERTIFICATE_CHAIN_FOUND": (
        "Chứng thư của người ký không do tổ chức cấp tin cậy cấp.",
        "The signer's certificate was not issued by a trusted authority.",
    ),
    "sub_OUT_OF_BOUNDS_NO_POE": (
        "Chứng thư không còn hiệu lực tại thời điểm ký (hoặc chưa có hiệu lực).",
        "The certificate was not valid at the time of signing.",
    ),
    "sub_EXPIRED": ("Chứng thư của người ký đã hết hạn.", "The signer's certificate has expired."),
    "sub_CHAIN_CONSTRAINTS_FAILURE": (
        "Chuỗi chứng thư không đúng quy định.",
        "The certificate chain breaks its constraints.",
    ),
    "sub_SIG_CONSTRAINTS_FAILURE": (
        "Chữ ký không đáp ứng yêu cầu kỹ thuật (thuật toán hoặc phạm vi ký).",
        "The signature does not meet the technical requirements (algorithm or coverage).",
    ),
    "sub_TRY_LATER": (
        "Chưa kiểm tra được chứng thư có bị thu hồi hay không. Hãy thử lại sau.",
        "Could not yet check whether the certificate is revoked. Try again later.",
    ),
    "sub_other": ("Không xác nhận được chữ ký.", "The signature could not be confirmed."),
    # desk
    "desk_title": ("Bàn tiếp đón", "Security desk"),
    "desk_label": ("Bàn", "Desk"),
    "scan_label": ("Quét mã QR (hoặc gõ mã rồi bấm Enter)", "Scan the QR (or type the code and press Enter)"),
    "scan_button": ("Kiểm tra", "Check"),
    "mode_label": ("Chế độ", "Mode"),
    "mode_checkin": ("Vào cổng", "Check in"),
    "mode_checkout": ("Ra về", "Check out"),
    "camera_start": ("Bật camera", "Start camera"),
    "camera_stop": ("Tắt camera", "Stop camera"),
    "camera_unavailable": ("Thiết bị không có camera hoặc chưa cho phép.", "No camera, or not allowed."),
    "camera_looking": ("Đang tìm mã QR…", "Looking for a QR code…"),
    "admit": ("MỜI VÀO", "ADMIT"),
    "deny": ("TỪ CHỐI", "DENY"),
    "checked_out": ("ĐÃ RA VỀ", "CHECKED OUT"),
    "queued": ("ĐÃ LƯU, CHỜ MẠNG", "SAVED, WAITING FOR NETWORK"),
    "queued_text": (
        "Mất mạng: lượt quét được lưu và sẽ gửi khi có mạng. Hãy kiểm tra giấy tờ của khách.",
        "Offline: the scan is saved and will be sent on reconnect. Check the guest's papers.",
    ),
    "guest": ("Khách", "Guest"),
    "host": ("Người mời", "Host"),
    "meeting": ("Cuộc họp", "Meeting"),
    "companions": ("Người đi cùng", "Companions"),
    "entries_left": ("Lượt vào còn lại", "Entries left"),
    "check_out_button": ("Cho ra về", "Check out"),
    "online": ("Đang kết nối", "Online"),
    "offline": ("Mất mạng", "Offline"),
    "pending": ("Chờ gửi: {n}", "Waiting to send: {n}"),
    "replayed": ("Đã gửi lại {n} lượt quét", "Sent {n} queued scans"),
    "today_list": ("Khách hôm nay", "Today's guests"),
    "refresh": ("Làm mới", "Refresh"),
    "count_expected": ("Đang chờ", "Expected"),
    "count_arrived": ("Đã đến", "Arrived"),
    "count_noshow": ("Không đến", "No-show"),
    "col_time": ("Giờ", "Time"),
    "col_status": ("Trạng thái", "Status"),
    "status_expected": ("Đang chờ", "Expected"),
    "status_arrived": ("Đã ra về", "Left"),
    "status_inside": ("Đang ở trong", "Inside"),
    "status_no-show": ("Không đến", "No-show"),
    "status_cancelled": ("Đã huỷ", "Cancelled"),
    "status_active": ("Còn hiệu lực", "Active"),
    "no_guests": ("Chưa có khách nào hôm nay.", "No guests today."),
    "no_venue": (
        "Tài khoản này chưa được gán địa điểm. Chọn địa điểm:",
        "This account has no venue. Choose one:",
    ),
    "venue": ("Địa điểm", "Venue"),
    # portal
    "portal_title": ("Cổng cán bộ", "Officials' portal"),
    "welcome": ("Xin chào, {name}", "Welcome, {name}"),
    "invitations": ("Thư mời", "Invitations"),
    "new_invitation": ("Tạo thư mời", "New invitation"),
    "guest_name": ("Họ tên khách", "Guest's name"),
    "guest_email": ("Email của khách (không bắt buộc)", "Guest's email (optional)"),
    "meeting_title": ("Nội dung cuộc họp", "Meeting"),
    "day": ("Ngày", "Day"),
    "start": ("Bắt đầu", "Starts"),
    "end": ("Kết thúc", "Ends"),
    "rotating": (
        "Mã QR thay đổi liên tục (chống chia sẻ ảnh chụp)",
        "Rotating QR (screenshots stop working)",
    ),
    "send_email": ("Gửi email cho khách", "Email the guest"),
    "create": ("Tạo thư mời", "Create invitation"),
    "created": ("Đã tạo thư mời cho {name}.", "Invitation created for {name}."),
    "no_invitations": ("Chưa có thư mời nào.", "No invitations yet."),
    "col_guest": ("Khách", "Guest"),
    "col_when": ("Thời gian", "When"),
    "col_actions": ("Thao tác", "Actions"),
    "qr_png": ("Mã QR (PNG)", "QR (PNG)"),
    "letter": ("Giấy mời (PDF)", "Letter (PDF)"),
    "pass_link": ("Trang thẻ khách", "Guest pass page"),
    "cancel": ("Huỷ", "Cancel"),
    "cancel_confirm": (
        "Huỷ thư mời này? Mã QR sẽ không còn dùng được.",
        "Cancel this invitation? Its QR will stop working.",
    ),
    "cancelled_ok": ("Đã huỷ thư mời.", "Invitation cancelled."),
    "sign_title": ("Ký văn bản", "Sign a document"),
    "sign_intro": (
        "Chọn tệp PDF, kiểm tra lại tên, dung lượng và mã băm, rồi xác nhận bằng mã 6 số để ký.",
        "Pick a PDF, review its name, size and hash, then confirm with your 6-digit code to sign.",
    ),
    "review": ("Kiểm tra lại", "Review"),
    "file_name": ("Tên tệp", "File name"),
    "file_size": ("Dung lượng", "Size"),
    "bytes": ("byte", "bytes"),
    "sign_code": ("Mã xác thực để ký (6 số)", "Code to confirm signing (6 digits)"),
    "sign_button": ("Xác nhận và ký", "Confirm and sign"),
    "signing": ("Đang ký…", "Signing…"),
    "signed_ok": ("Đã ký. Mã văn bản: {id}", "Signed. Document id: {id}"),
    "download_signed": ("Tải tệp đã ký", "Download the signed PDF"),
    "no_credential": (
        "Bạn chưa có chứng thư ký số do Kyso giữ. Liên hệ bộ phận quản lý chứng thư.",
        "You have no signing certificate held by this service. Ask the certificate operator.",
    ),
    "certificates": ("Chứng thư số của tôi", "My certificates"),
    "serial": ("Số hiệu", "Serial"),
    "purpose": ("Mục đích", "Purpose"),
    "purpose_sign": ("Ký cá nhân", "Personal signature"),
    "purpose_seal": ("Đóng dấu cơ quan", "Agency seal"),
    "valid_until": ("Hiệu lực đến", "Valid until"),
    "cert_valid": ("Còn hiệu lực", "Valid"),
    "cert_suspended": ("Tạm dừng", "Suspended"),
    "cert_revoked": ("Đã thu hồi", "Revoked"),
    "cert_expired": ("Hết hạn", "Expired"),
    "no_certificates": ("Chưa có chứng thư nào.", "No certificates yet."),
    "error_prefix": ("Không thực hiện được: ", "Could not do it: "),
    # pass
    "pass_title": ("Thẻ khách", "Guest pass"),
    "pass_intro": (
        "Xuất trình mã QR này tại bàn tiếp đón. Tăng độ sáng màn hình khi quét.",
        "Show this QR code at the reception desk. Turn up the screen brightness.",
    ),
    "pass_rotating": (
        "Mã thay đổi sau mỗi 30 giây: ảnh chụp màn hình sẽ không dùng được.",
        "The code changes every 30 seconds: a screenshot will not work.",
    ),
    "pass_qr_alt": ("Mã QR thư mời của {name}", "Invitation QR code for {name}"),
    "dear": ("Kính gửi {name}", "Dear {name}"),
    "invited_by": ("{host} trân trọng mời Ông/Bà đến dự", "{host} invites you to"),
    "when": ("Thời gian", "When"),
    "where": ("Địa điểm", "Where"),
    "map": ("Xem bản đồ", "Open the map"),
    "add_calendar": ("Thêm vào lịch (.ics)", "Add to calendar (.ics)"),
    "invitation_id": ("Mã thư mời", "Invitation id"),
    "pass_cancelled": (
        "Thư mời này đã bị huỷ. Mã QR không còn dùng được. Vui lòng liên hệ người mời.",
        "This invitation was cancelled. Its QR code no longer works. Please contact your host.",
    ),
    "pass_amended": (
        "Thư mời này đã được thay đổi. Vui lòng dùng đường dẫn mới nhất trong email của người mời.",
        "This invitation was changed. Please use the newest link from your host's email.",
    ),
    "pass_unknown": (
        "Đường dẫn thẻ khách không đúng hoặc đã hết hiệu lực.",
        "This pass link is not valid or no longer works.",
    ),
    "not_found_title": ("Không tìm thấy", "Not found"),
}


def translator(language: str) -> Callable[..., str]:
    index = 1 if language == "en" else 0

    def t(key: str, **values: object) -> str:
        text = CATALOGUE[key][index]
        return text.format(**values) if values else text

    return t


def strings(language: str, keys: list[str]) -> dict[str, str]:
    """The strings a script needs, for its ``data-strings`` attribute."""
    t = translator(language)
    return {key: t(key) for key in keys}
