"""Emails: the guest's invitation (MIME with the QR inline by Content-ID and a calendar .ics) and the
host's arrival notice, sent through the operator's SMTP server.

Everything a guest or host typed is escaped before it goes into HTML, and folded/escaped per RFC 5545
in the calendar file: TEXT values escaped, parameter values (ORGANIZER's CN) stripped of control
characters and DQUOTE and quoted.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from core.clock import VIETNAM
from core.errors import Kind, ServiceError
from core.settings import Settings


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "Kyso <no-reply@kyso.invalid>"
    security: str = "none"  # none | starttls | tls
    timeout: float = 10.0


@dataclass(frozen=True)
class InvitationMail:
    """What the invitation email says; built by invitations/notify.py from the stored invitation."""

    invitation_id: str
    to: str
    guest_name: str
    host_name: str
    meeting_title: str
    venue_name: str
    venue_address: str | None
    windows: list[tuple[dt.datetime, dt.datetime]]  # one per occurrence, UTC
    token_text: str
    qr_png: bytes
    letter_pdf: bytes | None = None  # the signed invitation letter, when the signing pipeline made one
    pass_url: str | None = None  # the guest's pass page (invitations/pass_links.py), when the sender knows it


def _local(value: dt.datetime) -> str:
    return value.astimezone(VIETNAM).strftime("%H:%M ngày %d/%m/%Y")


def when_text(windows: list[tuple[dt.datetime, dt.datetime]]) -> str:
    start, end = windows[0]
    text = f"{_local(start)} – {end.astimezone(VIETNAM):%H:%M}"
    if len(windows) > 1:
        text += f" (mỗi ngày, {len(windows)} ngày, đến {windows[-1][0].astimezone(VIETNAM):%d/%m/%Y})"
    return text


# RFC 5545 §3.1 CONTROL: every C0 character but HTAB, and DEL; none may stand in a content line.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r\n?|\n")


def _ics_text(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11): backslash, ``;`` and ``,`` escaped, line breaks (CRLF, CR, LF) as
    ``\\n``, any other control character dropped."""
    value = "\n".join(_CONTROL.sub("", line) for line in _LINE_BREAK.split(value))
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\n", "\\n")


def _ics_param(value: str) -> str:
    """A parameter value (RFC 5545 §3.2), such as ORGANIZER's CN: no escapes exist there, so control
    characters and DQUOTE are removed (a line break becomes a space), and a value with ``,`` ``;`` or
    ``:`` is put in DQUOTEs."""
    words = " ".join(_CONTROL.sub("", line) for line in _LINE_BREAK.split(value.replace("\t", " ")))
    value = " ".join(words.replace('"', "").split())
    return f'"{value}"' if any(c in value for c in ",;:") else value


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with CRLF and a space (not inside a character)."""
    out, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current)
            current = b""
        current += encoded
    out.append(current)
    return "\r\n ".join(part.decode() for part in out)


def calendar(mail: InvitationMail, organizer: str, now: dt.datetime) -> str:
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Kyso//Thu moi dien tu//VI", "METHOD:PUBLISH"]
    about = f"Khách: {mail.guest_name}. Người mời: {mail.host_name}. Xuất trình mã QR tại bàn tiếp đón."
    for number, (start, end) in enumerate(mail.windows):
        location = mail.venue_name + (f", {mail.venue_address}" if mail.venue_address else "")
        lines += [
            "BEGIN:VEVENT",
            f"UID:{mail.invitation_id}-{number}@kyso",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{end.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{_ics_text(mail.meeting_title)}",
            f"LOCATION:{_ics_text(location)}",
            f"DESCRIPTION:{_ics_text(about)}",
            f"ORGANIZER;CN={_ics_param(mail.host_name)}:mailto:{_CONTROL.sub('', organizer)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def invitation_message(mail: InvitationMail, sender: str, now: dt.datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"Thư mời: {mail.meeting_title}"
    message["From"] = sender
    message["To"] = mail.to
    message["Message-ID"] = make_msgid(domain="kyso")
    when = when_text(mail.windows)
    place = mail.venue_name + (f", {mail.venue_address}" if mail.venue_address else "")
    message.set_content(
        f"Kính gửi {mail.guest_name},\n\n"
        f"{mail.host_name} trân trọng mời Ông/Bà đến dự: {mail.meeting_title}\n"
        f"Thời gian: {when}\nĐịa điểm: {place}\n\n"
        "Vui lòng xuất trình mã QR đính kèm (trên điện thoại hoặc bản in) tại bàn tiếp đón.\n"
        f"Mã thư mời: {mail.invitation_id}\n\n"
        + (f"Thẻ khách trên điện thoại / Pass on your phone: {mail.pass_url}\n\n" if mail.pass_url else "")
        + "— Invitation: show the attached QR code at the reception desk.\n"
    )
    cid = make_msgid(domain="kyso")
    e = html.escape
    message.add_alternative(
        '<!doctype html><html lang="vi"><body>'
        f"<p>Kính gửi {e(mail.guest_name)},</p>"
        f"<p>{e(mail.host_name)} trân trọng mời Ông/Bà đến dự: <strong>{e(mail.meeting_title)}</strong></p>"
        f"<p>Thời gian: {e(when)}<br>Địa điểm: {e(place)}</p>"
        f'<p><img src="cid:{cid[1:-1]}" alt="Mã QR thư mời" width="300" height="300"></p>'
        "<p>Vui lòng xuất trình mã QR này tại bàn tiếp đón.</p>"
        + (f'<p><a href="{e(mail.pass_url)}">Mở thẻ khách trên điện thoại</a></p>' if mail.pass_url else "")
        + f'<p style="color:#666">Mã thư mời: {e(mail.invitation_id)}</p>'
        "</body></html>",
        subtype="html",
    )
    html_part = message.get_payload()[1]  # type: ignore[index]
    html_part.add_related(
        mail.qr_png, "image", "png", cid=cid, filename="thu-moi-qr.png", disposition="inline"
    )
    message.add_attachment(
        calendar(mail, sender_address(sender), now).encode(),
        maintype="text",
        subtype="calendar",
        filename="thu-moi.ics",
        params={"method": "PUBLISH", "charset": "utf-8"},
    )
    if mail.letter_pdf:
        message.add_attachment(
            mail.letter_pdf, maintype="application", subtype="pdf", filename="giay-moi.pdf"
        )
    return message


def arrival_message(to: str, sender: str, arrival: dict[str, object]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"Khách đã đến: {arrival.get('guest')}"
    message["From"] = sender
    message["To"] = to
    message.set_content(
        f"Khách {arrival.get('guest')} đã được đón tại {arrival.get('desk')} ({arrival.get('venue')}) "
        f"lúc {arrival.get('at')}.\nCuộc họp: {arrival.get('meeting')}\n\n"
        f"— Your guest {arrival.get('guest')} has arrived.\n"
    )
    return message


def sender_address(sender: str) -> str:
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()


def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Deliver through the configured server; UNAVAILABLE when it cannot be reached or refuses."""
    try:
        if config.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            if config.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.username:
                client.login(config.username, config.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise ServiceError(Kind.UNAVAILABLE, f"the mail server did not take the message: {exc}") from exc


def config_from(settings: Settings) -> SmtpConfig | None:
    """The operator's mail server (KYSO_SMTP_*), or None when none is configured."""
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        sender=settings.smtp_from,
        security=settings.smtp_security,
    )
