"""Notifications through an outbox: written in the transaction that causes them (an arrival, a new
invitation), delivered afterwards by ``deliver_due`` — from the API's background worker or
``kyso invite deliver`` — so a slow mail server never slows a check-in, and nothing is sent for an
action that rolled back. Each message is claimed by a conditional UPDATE: two workers never send it twice.

Failed deliveries are retried with growing delays (30 s, 2 min, 4.5 min, …) and given up after
``MAX_ATTEMPTS``; the last error stays on the row. A webhook whose destination is refused
(``invitations.webhooks``: not a public address, and not allowed by KYSO_WEBHOOK_ALLOW) is given up at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from core.errors import Kind, ServiceError, malformed
from invitations import mail, qr
from invitations import webhooks as webhook_client
from invitations.service import InvitationContext, token_text
from invitations.webhooks import WebhookPolicy, WebhookRefused
from store import invitations_repo as repo
from store.db import Database
from store.models import Invitation, OutboxMessage

log = logging.getLogger("kyso.invitations")
MAX_ATTEMPTS = 6
STALE = dt.timedelta(minutes=10)  # a message 'sending' this long belongs to a worker that died
PUBLIC_ONLY = WebhookPolicy()
# (session, invitation id, recipient) -> the email's fields, or None when there is nothing to send
MailBuilder = Callable[[Session, str, str], mail.InvitationMail | None]


def enqueue_arrival(
    session: Session, invitation: Invitation | Row[Any], decision: dict[str, object], now: dt.datetime
) -> None:
    for message in arrival_messages(invitation, decision, now):
        repo.add_outbox(session, OutboxMessage(**message))


def arrival_messages(
    invitation: Invitation | Row[Any], decision: dict[str, object], now: dt.datetime
) -> list[dict[str, Any]]:
    """The outbox rows telling the host (webhook, email, both or neither) that the guest arrived."""
    if not (invitation.notify_webhook or invitation.notify_email):
        return []
    payload = {
        "event": "guest.arrived",
        "invitation_id": invitation.id,
        "guest": decision.get("guest"),
        "meeting": decision.get("meeting"),
        "desk": decision.get("desk"),
        "venue": decision.get("venue"),
        "at": now.astimezone(VIETNAM).isoformat(timespec="seconds"),
    }
    text = json.dumps(payload, ensure_ascii=False)
    return [
        {
            "invitation_id": invitation.id,
            "kind": kind,
            "purpose": "arrival",
            "target": target,
            "payload": text,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "due_at": now,
        }
        for kind, target in (("webhook", invitation.notify_webhook), ("email", invitation.notify_email))
        if target
    ]


def enqueue_invitation_email(session: Session, invitation: Invitation, now: dt.datetime) -> None:
    if not invitation.guest_email:
        raise malformed("the invitation has no guest email address")
    repo.add_outbox(
        session,
        OutboxMessage(
            invitation_id=invitation.id,
            kind="email",
            purpose="invitation",
            target=invitation.guest_email,
            payload="{}",
            status="pending",
            attempts=0,
            created_at=now,
            due_at=now,
        ),
    )


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def post_webhook(url: str, payload: str, webhooks: WebhookPolicy = PUBLIC_ONLY) -> None:
    """POST to a public address (or one ``webhooks`` allows); WebhookRefused for anything else."""
    webhook_client.post(url, payload, webhooks)


def _send(
    session: Session,
    message: OutboxMessage,
    smtp: mail.SmtpConfig | None,
    build: MailBuilder,
    now: dt.datetime,
    webhooks: WebhookPolicy,
) -> None:
    if message.kind == "webhook":
        post_webhook(message.target, message.payload, webhooks)
        return
    if smtp is None:
        raise ServiceError(Kind.UNAVAILABLE, "no mail server is configured (KYSO_SMTP_HOST)")
    if message.purpose == "arrival":
        mail.send(smtp, mail.arrival_message(message.target, smtp.sender, json.loads(message.payload)))
        return
    fields = build(session, message.invitation_id or "", message.target)
    if fields is None:
        return  # cancelled meanwhile: nothing to send
    mail.send(smtp, mail.invitation_message(fields, smtp.sender, now))


def deliver_due(
    db: Database,
    now: Callable[[], dt.datetime],
    smtp: mail.SmtpConfig | None,
    build: MailBuilder,
    limit: int = 20,
    webhooks: WebhookPolicy = PUBLIC_ONLY,
) -> Delivery:
    """Send what is due; one transaction to claim, one to record the outcome, none held while sending.
    ``webhooks``: what webhooks may reach beyond public addresses (``InvitationContext.webhooks``)."""
    sent = retried = failed = 0
    start = now()
    with db.transaction() as session:
        due = repo.due_outbox(session, start, start - STALE, limit)
    for message_id in due:
        with db.transaction() as session:
            if not repo.claim_outbox(session, message_id, now(), now() - STALE):
                continue
        error: str | None = None
        refused = False
        try:
            with db.reading() as session:
                message = repo.outbox_message(session, message_id)
                if message is None:
                    continue
                _send(session, message, smtp, build, now(), webhooks)
        except WebhookRefused as exc:  # retrying cannot help
            error, refused = exc.message, True
        except ServiceError as exc:
            error = exc.message
        except Exception as exc:  # a bug or an unexpected library error must not stop the worker
            log.exception("outbox message %s", message_id)
            error = f"{type(exc).__name__}: {exc}"
        with db.transaction() as session:
            message = repo.outbox_message(session, message_id)
            if message is None:
                continue
            if error is None:
                message.status, message.sent_at, message.last_error = "sent", now(), None
                sent += 1
            elif refused or message.attempts >= MAX_ATTEMPTS:
                message.status, message.last_error = "failed", error[:2000]
                failed += 1
            else:
                message.status, message.last_error = "pending", error[:2000]
                message.due_at = now() + dt.timedelta(seconds=30 * message.attempts**2)
                retried += 1
    return Delivery(sent, retried, failed)


def invitation_mail_builder(
    context: InvitationContext,
    letter: Callable[[str], bytes | None] | None = None,
    pass_url: Callable[[str, int], str] | None = None,
) -> MailBuilder:
    """Builds the guest's email from the stored invitation, with a freshly signed token.

    ``letter`` gives the sealed invitation letter to attach (``invitations.letter.for_mail``), or None;
    ``pass_url`` the link to the guest's pass page (``invitations.pass_links.url_builder``), or None.
    """

    def build(session: Session, invitation_id: str, to: str) -> mail.InvitationMail | None:
        invitation = repo.invitation(session, invitation_id)
        if invitation is None or invitation.status != "active":
            return None
        occurrences = repo.occurrences(session, [invitation.id])[invitation.id]
        text = token_text(context, invitation, occurrences)
        venue = repo.venue(session, invitation.venue_code)
        return mail.InvitationMail(
            invitation_id=invitation.id,
            to=to,
            guest_name=invitation.guest_name,
            host_name=invitation.host_name,
            meeting_title=invitation.meeting_title,
            venue_name=venue.name if venue else invitation.venue_code,
            venue_address=venue.address if venue else None,
            windows=[(as_utc(o.starts_at), as_utc(o.ends_at)) for o in occurrences],
            token_text=text,
            qr_png=qr.render(text).png(8),
            letter_pdf=letter(invitation.id) if letter else None,
            pass_url=pass_url(invitation.id, invitation.token_version) if pass_url else None,
        )

    return build
