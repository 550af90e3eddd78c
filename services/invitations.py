"""Invitation use cases: invite, amend, cancel, email, the sealed letter, delivery, venues, housekeeping.

Each function takes the composition root and the ``Actor`` doing it, runs the action in its transaction
with the audit entry (``services.audit.record``), and returns ``invitations/``'s frozen records; refusals
are ``core.errors.ServiceError``. ``api/routers/invitations.py`` and ``cli/invite_cmd.py`` (and
``cli/venue_cmd.py``) only parse, call and render; the app's background worker calls ``deliver``,
``auto_checkout`` (``services.checkins``) and ``anonymise`` as ``Actor.SYSTEM``.

Who may do what: an actor with a role (an API caller) who is an official manages the invitations they
host; a clerk or an integrator (``ON_BEHALF``) may invite on behalf of a host and manage every
invitation. The CLI's actor has no role: it is the operator on the host, who names the host and sees
every invitation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING

from core.errors import Kind, ServiceError, malformed
from invitations import checkin, mail, notify, pass_links, retention, service, venues
from invitations import letter as letters
from invitations.service import Amendment, Host, InvitationInput, InvitationView
from services import blocklist
from services.audit import Actor, record
from store import invitations_repo as repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso

ON_BEHALF = frozenset({"clerk", "service"})  # roles that may invite for another host and see every invitation


def owner_of(actor: Actor) -> int | None:
    """Whose invitations the actor manages: an official their own; clerks, integrators and the CLI all."""
    if actor.role is None or actor.role in ON_BEHALF:
        return None
    return actor.account_id


def _host(session: Session, actor: Actor, username: str | None) -> Host:
    if actor.role is None:  # the operator on the host names the host
        if not username:
            raise malformed("name the host: --host <username>")
        return service.host_of(session, username)
    if username and username.strip().lower() != actor.name:
        if actor.role not in ON_BEHALF:
            raise ServiceError(Kind.FORBIDDEN, "only clerks and integrators invite on behalf of another host")
        return service.host_of(session, username)
    if actor.role == "service":
        raise malformed('an integrator names the host: give "host": "<username>"')
    return service.host_of(session, actor.name)


# --- invitations --------------------------------------------------------------------------------------
def create(
    kyso: Kyso, actor: Actor, data: InvitationInput, *, host: str | None = None, send_email: bool = False
) -> InvitationView:
    """Invite a guest (for ``host``, a username, or for the actor), queueing the email if asked."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        hosting = _host(session, actor, host)
        created = service.create(session, context, hosting, data)
        blocklist.check(session, kyso, actor, created.id, data.cccd)
        if send_email:
            invitation = repo.invitation(session, created.id)
            notify.enqueue_invitation_email(session, invitation, kyso.clock.now())  # type: ignore[arg-type]
        record(
            session,
            kyso,
            actor,
            "invitation.create",
            created.id,
            venue=created.venue,
            host=hosting.username,
            days=len(created.occurrences),
            emailed=send_email,
        )
    return created


def changed_fields(changes: Amendment) -> list[str]:
    """The fields an amendment changes (those it gives), sorted, as the audit entry names them."""
    return sorted(f.name for f in fields(changes) if getattr(changes, f.name) is not None)


def amend(kyso: Kyso, actor: Actor, invitation_id: str, changes: Amendment) -> InvitationView:
    """Change an invitation: a new token is issued and the old one refused from now on."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        amended = service.amend(session, context, invitation_id, changes, owner_of(actor))
        blocklist.check(session, kyso, actor, amended.id, changes.cccd or None)
        record(
            session,
            kyso,
            actor,
            "invitation.amend",
            amended.id,
            fields=changed_fields(changes),
            version=amended.token_version,
        )
    return amended


def cancel(kyso: Kyso, actor: Actor, invitation_id: str) -> InvitationView:
    """Cancel an invitation: its pass is refused from now on."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        cancelled = service.cancel(session, context, invitation_id, owner_of(actor))
        record(session, kyso, actor, "invitation.cancel", cancelled.id)
    return cancelled


def send(kyso: Kyso, actor: Actor, invitation_id: str) -> InvitationView:
    """Queue the invitation email to the guest (delivered by ``deliver``)."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        shown = service.view(session, context, invitation_id, owner_of(actor))
        if shown.status != "active":
            raise ServiceError(Kind.CONFLICT, "the invitation is cancelled")
        notify.enqueue_invitation_email(session, repo.invitation(session, shown.id), kyso.clock.now())  # type: ignore[arg-type]
        record(session, kyso, actor, "invitation.send", shown.id)
    return shown


def retire_key(kyso: Kyso, actor: Actor, kid: str) -> str:
    """Stop trusting an old seal key: its passes are refused as "unknown key". Returns the key id."""
    context = kyso.invitations
    with kyso.db.transaction() as session:
        service.retire_key(session, context, kid)
        record(session, kyso, actor, "invitation.retire_key", kid.lower())
    return kid.lower()


# --- the sealed letter and delivery -------------------------------------------------------------------
def _on_sealed(kyso: Kyso, actor: Actor) -> Callable[[Session, letters.SealedLetter], None]:
    """The audit entry of a letter sealed for the first time, in the transaction that keeps it."""

    def on_sealed(session: Session, letter: letters.SealedLetter) -> None:
        record(session, kyso, actor, "invitation.letter", letter.invitation_id,
               document=letter.document_id, organization=letter.organization)  # fmt: skip

    return on_sealed


def letter(kyso: Kyso, actor: Actor, invitation_id: str) -> letters.SealedLetter:
    """The invitation letter sealed by the host's agency (sealed once per token version, then kept)."""
    context = kyso.invitations
    with kyso.db.reading() as session:
        shown = service.view(session, context, invitation_id.strip(), owner_of(actor))  # refuses others'
    return letters.issue(kyso.db, context, shown.id, kyso.letter_sealer, _on_sealed(kyso, actor))


def deliver(kyso: Kyso, actor: Actor) -> notify.Delivery:
    """Send the due notifications (invitation emails with their letter, arrival notices, webhooks)."""
    context = kyso.invitations
    attach = letters.for_mail(kyso.db, context, kyso.letter_sealer, _on_sealed(kyso, actor))
    build = notify.invitation_mail_builder(context, attach, pass_links.url_builder(kyso.settings))
    return notify.deliver_due(
        kyso.db, kyso.clock.now, mail.config_from(kyso.settings), build, webhooks=context.webhooks
    )


# --- housekeeping -------------------------------------------------------------------------------------
def anonymise(kyso: Kyso, actor: Actor) -> int:
    """Anonymise guests' data older than KYSO_INVITATION_RETENTION_DAYS; the number anonymised."""
    days = kyso.settings.invitation_retention_days
    with kyso.db.transaction() as session:
        if done := retention.anonymise(session, kyso.clock.now(), days):
            record(session, kyso, actor, "invitation.anonymise", None, count=len(done), after_days=days)
    return len(done)


def housekeeping(kyso: Kyso, actor: Actor) -> dict[str, int]:
    """End-of-day check-out and anonymisation in one transaction, with one audit entry."""
    context = kyso.invitations
    days = kyso.settings.invitation_retention_days
    with kyso.db.transaction() as session:
        checked_out = checkin.auto_checkout(session, context)
        anonymised = retention.anonymise(session, kyso.clock.now(), days)
        record(
            session,
            kyso,
            actor,
            "invitation.housekeeping",
            None,
            checked_out=checked_out,
            anonymised=len(anonymised),
        )
    return {"checked_out": checked_out, "anonymised": len(anonymised), "after_days": days}


# --- venues -------------------------------------------------------------------------------------------
def add_venue(
    kyso: Kyso,
    actor: Actor,
    code: str,
    name: str,
    *,
    address: str | None = None,
    desks: list[str],
    retention_days: int | None = None,
) -> venues.VenueView:
    """Add a venue with its desks (desk codes are unique across venues) and, optionally, how many days
    after an invitation ends its guest's data is kept (else KYSO_INVITATION_RETENTION_DAYS)."""
    with kyso.db.transaction() as session:
        added = venues.add(
            session, kyso.clock, code, name, address=address, desks=desks, retention_days=retention_days
        )
        record(session, kyso, actor, "venue.add", added.code, desks=[d.code for d in added.desks])
    return added


def set_retention(kyso: Kyso, actor: Actor, venue: str, retention_days: int | None) -> venues.VenueView:
    """A venue's own retention (None: the instance's KYSO_INVITATION_RETENTION_DAYS), audited."""
    with kyso.db.transaction() as session:
        changed = venues.set_retention(session, venue, retention_days)
        record(session, kyso, actor, "venue.retention", venue, retention_days=retention_days)
    return changed


def add_desk(kyso: Kyso, actor: Actor, venue: str, code: str, name: str | None = None) -> venues.DeskView:
    """Add a desk to a venue."""
    with kyso.db.transaction() as session:
        added = venues.add_desk(session, kyso.clock, venue, code, name)
        record(session, kyso, actor, "venue.add_desk", venue, desk=added.code)
    return added
