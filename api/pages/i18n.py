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
    "overall": ("Kết luận chung", "Overall"),
    "signer": ("Người ký", "Signer"),
    "agency": ("Cơ quan", "Agency"),
    "title_role": ("Chức danh", "Title"),
    "issuer": ("Tổ chức cấp chứng thư", "Certificate issuer"),
    "signing_time": ("Thời điểm ký", "Signing time"),
    "timestamp": ("Dấu thời gian", "Timestamp"),
    "no_timestamp": ("Không có", "None"),
    "changes": ("Thay đổi sau khi ký", "Changes since signing"),
    "integrity": ("Toàn vẹn", "Integrity"),
    "trusted_chain": ("Chuỗi chứng thư tin cậy", "Trusted chain"),
    "revocation": ("Tình trạng thu hồi", "Revocation status"),
    "pades_level": ("Mức PAdES", "PAdES level"),
    "why": ("Lý do", "Why"),
    "details": ("Chi tiết kỹ thuật", "Technical details"),
    "issued_by_us": ("Văn bản trong sổ Kyso, mã", "In this service's register, document id"),
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
    "verify_unknown_title": ("Không có văn bản với mã này", "No document has this id"),
    "verify_unknown_text": (
        "Mã văn bản trong đường dẫn không có trong sổ văn bản Kyso đã ký. Hãy kiểm tra lại mã QR, hoặc tải "
        "tệp PDF lên trang kiểm tra để xem chữ ký của nó.",
        "The document id in this link is not in this service's register of signed documents. Check the QR "
        "code, or upload the PDF on the verification page to check its signatures.",
    ),
    "verify_unknown_action": ("Kiểm tra một tệp PDF", "Check a PDF file"),
    "view_signed": ("Xem bản đã ký", "View the signed version"),
    "compare_changes": ("Xem thay đổi từ khi ký", "See what changed since signing"),
    "changes_title": ("Thay đổi từ khi ký", "What changed since signing"),
    "changes_intro": (
        "So sánh hình ảnh các trang của bản đã ký (phiên bản {n}) với tệp bạn đã tải lên "
        "(tối đa {pages} trang đầu, độ phân giải thấp). Chỗ khác nhau được tô đỏ.",
        "The pages of the signed version (revision {n}) compared with the file you uploaded "
        "(at most the first {pages} pages, low resolution). What differs is marked in red.",
    ),
    "changes_found": (
        "Có trang khác với bản đã ký: xem chỗ tô đỏ. Chữ ký hoặc dấu thêm vào sau đó cũng hiện ra như vậy.",
        "Some pages differ from the signed version: see the red marks. A signature or seal added later "
        "shows this way too.",
    ),
    "changes_none": (
        "Các trang giống hệt bản đã ký; phần thêm sau đó chỉ là chữ ký, dấu hoặc dữ liệu không hiển thị.",
        "The pages look the same as the signed version; what came after shows nothing on them.",
    ),
    "changes_not_rendered": (
        "Không dựng được hình ảnh các trang của tệp này.",
        "The pages of this file could not be rendered.",
    ),
    "page_n": ("Trang {n}", "Page {n}"),
    "page_same": ("không thay đổi", "unchanged"),
    "page_changed": ("có thay đổi", "changed"),
    "page_new": ("Trang này không có trong bản đã ký.", "This page is not in the signed version."),
    "page_gone": ("Trang này không còn trong tệp đã tải lên.", "This page is gone from the uploaded file."),
    "page_before": ("Bản đã ký", "Signed version"),
    "page_after": ("Tệp đã tải lên", "Uploaded file"),
    "page_diff": ("Chỗ khác nhau (tô đỏ)", "Differences (in red)"),
    "page_before_alt": ("Trang {n} của bản đã ký", "Page {n} of the signed version"),
    "page_after_alt": ("Trang {n} của tệp đã tải lên", "Page {n} of the uploaded file"),
    "page_diff_alt": ("Chỗ khác nhau ở trang {n}", "Differences on page {n}"),
    "held_expired": (
        "Tệp đã tải lên không còn được lưu (sau 30 phút). Hãy tải lên lại để kiểm tra.",
        "The uploaded file is no longer kept (after 30 minutes). Upload it again to check it.",
    ),
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
    # desk, issue 21: answers that cannot be misread, the next step, the CCCD card step, labelled times
    "entries_more": ("Còn {n} lượt vào hôm nay", "{n} more entries today"),
    "held_word": ("GIỮ TẠI BÀN", "HOLD AT DESK"),
    "hold_approved": ("Người phê duyệt đã đồng ý cho vào", "An approver agreed to admit"),
    "walkup_title": ("Khách vãng lai (không có thư mời)", "Walk-up guest (no invitation)"),
    "walkup_name": ("Họ tên khách", "Guest's name"),
    "walkup_cccd": ("Số CCCD (không bắt buộc)", "CCCD number (optional)"),
    "walkup_host": ("Tên đăng nhập của người tiếp khách", "The host's username"),
    "walkup_meeting": ("Nội dung (không bắt buộc)", "Purpose (optional)"),
    "walkup_submit": ("Đăng ký và chờ người mời đồng ý", "Register and wait for the host"),
    "walkup_waiting": ("Đang chờ người mời đồng ý", "Waiting for the host"),
    "walkup_check": ("Kiểm tra lại", "Check again"),
    "host_contact": ("Liên hệ người mời", "Host's contact"),
    "next_action": ("Việc cần làm", "What to do"),
    "last_used": ("Đã dùng lúc {at} tại bàn {desk}", "Used at {at} at desk {desk}"),
    "card_step": ("Kiểm tra CCCD (quét thêm mã QR trên thẻ)", "Check the CCCD (scan the card's QR too)"),
    "card_prompt": (
        "Bước 2: quét mã QR trên thẻ CCCD của khách",
        "Step 2: scan the QR on the guest's CCCD card",
    ),
    "card_skip": ("Bỏ qua thẻ CCCD", "Skip the card"),
    "card_match": ("CCCD khớp với thư mời", "The CCCD matches the invitation"),
    "card_not_compared": ("Thư mời không ghi CCCD: chưa đối chiếu được", "The invitation names no CCCD"),
    "col_meeting_time": ("Giờ hẹn", "Meeting at"),
    "col_arrived": ("Giờ đến", "Arrived"),
    "col_left": ("Giờ về", "Left"),
    "rollcall": ("Điểm danh sơ tán", "Evacuation roll call"),
    "rollcall_intro": (
        "Những người đang ở trong toà nhà theo lần đồng bộ gần nhất của bàn tiếp đón. Đánh dấu từng người.",
        "Who is inside, from the desk's last sync. Mark each person.",
    ),
    "rollcall_synced": ("Dữ liệu lúc {at}", "Data as of {at}"),
    "rollcall_none": ("Không còn ai ở trong.", "Nobody is inside."),
    "rollcall_no_data": (
        "Chưa có dữ liệu: mở trang bàn tiếp đón khi có mạng để đồng bộ.",
        "No data yet: open the desk page while online to sync.",
    ),
    "mark_safe": ("An toàn", "Safe"),
    "mark_missing": ("Chưa thấy", "Missing"),
    "mark_unmarked": ("Chưa điểm danh", "Not marked"),
    "rollcall_counts": (
        "Ở trong: {inside} · An toàn: {safe} · Chưa thấy: {missing} · Chưa điểm: {unmarked}",
        "Inside: {inside} · Safe: {safe} · Missing: {missing} · Not marked: {unmarked}",
    ),
    "export_csv": ("Xuất CSV", "Export CSV"),
    "rollcall_pending": ("Chờ gửi {n} lượt đánh dấu", "{n} marks waiting to send"),
    "state_inside": ("Đã đến", "Arrived"),
    "state_left": ("Đã về", "Left"),
    "state_expected": ("Còn hiệu lực", "Active"),
    "state_no-show": ("Không đến", "No-show"),
    "state_cancelled": ("Đã huỷ", "Cancelled"),
    "guest_title": ("Danh xưng", "Honorific"),
    "arrival_notice": ("{name} đã đến lúc {at}", "{name} arrived at {at}"),
    "left_notice": ("{name} đã về lúc {at}", "{name} left at {at}"),
    "arrivals_title": ("Thông báo khách đến", "Arrivals"),
    "arrivals_none": (
        "Trang tự cập nhật khi khách đến hoặc về.",
        "This page updates itself when guests arrive or leave.",
    ),
    "holds_title": ("Khách bị giữ tại bàn (danh sách chặn)", "Guests held at the desk (block list)"),
    "hold_listed": ("Trong danh sách vì", "Listed because"),
    "hold_admit": ("Cho vào", "Admit"),
    "hold_refuse": ("Từ chối", "Refuse"),
    "hold_done_admitted": (
        "Đã cho vào: bàn tiếp đón quét lại mã.",
        "Admitted: the desk scans the pass again.",
    ),
    "hold_done_refused": ("Đã từ chối.", "Refused."),
    "title_none": ("(không ghi)", "(none)"),
    "host_contact_field": (
        "Số điện thoại liên hệ của người mời (không bắt buộc)",
        "The host's phone or extension (optional)",
    ),
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
    "dear_title": ("Kính gửi {title} {name}", "Dear {title} {name}"),
    "invited_by_title": ("{host} trân trọng mời {title} đến dự", "{host} invites you to"),
    "pass_arrived": ("Đã đến lúc {at}", "Arrived at {at}"),
    "pass_left": ("Đã về lúc {at}", "Left at {at}"),
    "pass_inside_intro": (
        "Ông/Bà đã vào cổng. Không cần xuất trình lại mã; chỉ quét lại khi ra về nếu bàn tiếp đón yêu cầu.",
        "You are checked in. No need to show the code again; it is scanned on leaving if the desk asks.",
    ),
    "pass_left_intro": ("Ông/Bà đã ra về. Cảm ơn Ông/Bà đã đến.", "You have left. Thank you for coming."),
    "pass_noshow_intro": ("Cuộc hẹn đã kết thúc.", "The meeting is over."),
    "pass_show_qr": ("Hiện mã QR", "Show the QR code"),
    "privacy_title": ("Dữ liệu cá nhân của Ông/Bà", "Your personal data"),
    "privacy_text": (
        "{venue} giữ họ tên, email, số điện thoại và người đi cùng của Ông/Bà đến {day} ({days} ngày sau "
        'cuộc hẹn); sau đó họ tên được thay bằng "(đã ẩn danh)" và các thông tin khác bị xoá. Số CCCD '
        "không được lưu, chỉ giữ mã băm để đối chiếu, và cũng bị xoá khi đó. Sổ khách (giờ đến, giờ về) "
        "được giữ không kèm tên.",
        "{venue} keeps your name, email, phone and companions until {day} ({days} days after the meeting); "
        'then your name is replaced by "(đã ẩn danh)" and the rest is erased. Your CCCD number is not '
        "stored, only a hash to compare, which is erased then too. The visitor register (arrival and "
        "leaving times) is kept without names.",
    ),
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
