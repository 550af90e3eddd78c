"""Delivery through the outbox: the guest's invitation email to a real SMTP server (aiosmtpd, started
here) with the QR inline and a calendar file, and the host's arrival notice by webhook and email."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import http.server
import io
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from PIL import Image

from core.clock import FrozenClock
from invitations import checkin, mail, notify, service, token, venues
from invitations.service import InvitationInput
from invitations.webhooks import WebhookPolicy
from store import invitations_repo as repo
from tests.conftest import Instance, free_port, make_account
from tests.support.clock import TUESDAY, upcoming
from tests.support.invitations import instance_context

T0 = upcoming(8, 30, weekday=TUESDAY)  # a Tuesday 08:30 in Hồ Chí Minh City; the meeting is at 09:00
LOOPBACK = WebhookPolicy.parse("127.0.0.1/32")  # the receivers here are on this machine (KYSO_WEBHOOK_ALLOW)
_numbers = itertools.count(1)


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[mail.SmtpConfig, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mail.SmtpConfig(host="127.0.0.1", port=port, sender="UBND Phường <thu-moi@ubnd.example.vn>"), inbox
    controller.stop()


@dataclass
class Hook:
    received: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, Hook]]:
    hook = Hook()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/kyso-arrivals", hook
    server.shutdown()


def _world(
    instance: Instance, **data: object
) -> tuple[FrozenClock, service.InvitationContext, service.InvitationView, str]:
    clock = FrozenClock(T0)
    context = instance_context(instance, clock)
    context.webhooks = LOOPBACK
    n = next(_numbers)
    official = make_account(instance, "official")
    with instance.db.transaction() as session:
        venues.add(
            session, clock, f"MAIL-{n}", "UBND Phường Đa Kao", address="12 Mạc Đĩnh Chi", desks=[f"m{n}"]
        )
        host = service.host_of(session, official.username)
        created = service.create(session, context, host, InvitationInput(
            guest_name="<b>Nguyễn</b> & Trần", venue=f"MAIL-{n}", starts_at=T0 + dt.timedelta(minutes=30),
            ends_at=T0 + dt.timedelta(hours=2), meeting_title="Tiếp công dân; hồ sơ, đất đai", **data,  # type: ignore[arg-type]
        ))  # fmt: skip
    return clock, context, created, f"m{n}"


def test_the_invitation_email_carries_the_qr_inline_and_a_calendar(shared_instance: Instance, smtp) -> None:
    config, inbox = smtp
    clock, context, created, _ = _world(shared_instance, guest_email="khach@example.vn", days=2)
    with shared_instance.db.transaction() as session:
        notify.enqueue_invitation_email(session, repo.invitation(session, created.id), clock.now())  # type: ignore[arg-type]
    before = len(inbox.messages)
    result = notify.deliver_due(
        shared_instance.db, clock.now, config, notify.invitation_mail_builder(context)
    )
    assert result.sent >= 1
    message = inbox.messages[before]
    assert message["To"] == "khach@example.vn"
    assert message["Subject"] == "Thư mời: Tiếp công dân; hồ sơ, đất đai"
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    html_part = next(p for p in related.walk() if p.get_content_type() == "text/html")
    image = next(p for p in related.walk() if p.get_content_type() == "image/png")
    html = html_part.get_content()
    assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert "&lt;b&gt;Nguyễn&lt;/b&gt; &amp; Trần" in html and "<b>Nguyễn</b>" not in html
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    with shared_instance.db.reading() as session:
        verdict = token.verify(scanned[0].text, context.keys(session), T0 + dt.timedelta(minutes=20))
    assert verdict.ok and verdict.claims.invitation_id == created.id  # type: ignore[union-attr]
    ics = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert ics.get_param("method") == "PUBLISH"
    text = ics.get_content() if isinstance(ics.get_content(), str) else ics.get_content().decode()
    assert text.count("BEGIN:VEVENT") == 2
    first, second = T0.date(), T0.date() + dt.timedelta(days=1)  # 09:00 in Vietnam is 02:00 UTC
    assert f"DTSTART:{first:%Y%m%d}T020000Z" in text and f"DTSTART:{second:%Y%m%d}T020000Z" in text
    assert "SUMMARY:Tiếp công dân\\; hồ sơ\\, đất đai" in text.replace("\r\n ", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_the_host_hears_of_an_arrival_by_webhook_and_email(shared_instance: Instance, smtp, webhook) -> None:
    config, inbox = smtp
    url, hook = webhook
    clock, context, created, desk_code = _world(
        shared_instance, notify_webhook=url, notify_email="host@ubnd.example.vn"
    )
    clock.set(T0 + dt.timedelta(minutes=25))
    with shared_instance.db.transaction() as session:
        desk = checkin.desk_for(session, desk_code, None)
        assert checkin.check_in(session, context, created.payload, desk, "gate").admitted  # type: ignore[arg-type]
    before = len(inbox.messages)
    result = notify.deliver_due(
        shared_instance.db, clock.now, config, notify.invitation_mail_builder(context), webhooks=LOOPBACK
    )
    assert result.sent >= 2
    event = next(e for e in hook.received if e["invitation_id"] == created.id)
    assert event["event"] == "guest.arrived" and event["desk"] == desk_code
    assert event["guest"] == "<b>Nguyễn</b> & Trần"
    arrival = [m for m in inbox.messages[before:] if m["To"] == "host@ubnd.example.vn"]
    assert arrival and "Khách đã đến" in arrival[0]["Subject"]
    again = notify.deliver_due(
        shared_instance.db, clock.now, config, notify.invitation_mail_builder(context), webhooks=LOOPBACK
    )
    assert again.sent == 0  # nothing is sent twice


def test_an_unreachable_webhook_is_retried_later(shared_instance: Instance) -> None:
    clock, context, created, desk_code = _world(
        shared_instance, notify_webhook=f"http://127.0.0.1:{free_port()}/nobody-listens"
    )
    clock.set(T0 + dt.timedelta(minutes=25))
    with shared_instance.db.transaction() as session:
        desk = checkin.desk_for(session, desk_code, None)
        checkin.check_in(session, context, created.payload, desk, "gate")  # type: ignore[arg-type]
    result = notify.deliver_due(
        shared_instance.db, clock.now, None, notify.invitation_mail_builder(context), webhooks=LOOPBACK
    )
    assert result.retried >= 1
    with shared_instance.db.reading() as session:
        message = repo.outbox_for(session, created.id)[0]
    assert message.status == "pending" and message.attempts == 1 and message.last_error
    assert message.due_at > clock.now()
