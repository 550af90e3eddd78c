"""`kyso invite …`: invitations for hosts, and the desk's check — online on this instance, or offline
from a signed bundle. `check` exits 0 on admit and 1 on deny, so scripts and gate controllers can use it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    Group,
    JsonOption,
    cli_as_actor,
    err,
    handles_errors,
    out,
    print_json,
    runtime,
)
from core.clock import VIETNAM, SystemClock, display
from core.errors import Kind, ServiceError, malformed

if TYPE_CHECKING:  # the domain modules are imported by the commands that use them
    from cryptography import x509

    from invitations import notify, service
    from invitations.checkin import Decision
    from services.root import Kyso

# invitations.service.MAX_DAYS / MAX_ENTRIES, for the options' bounds without importing the domain at
# `kyso --help` (tests/cli/test_startup.py keeps them the same)
MAX_DAYS = 31
MAX_ENTRIES = 50

app = typer.Typer(
    cls=Group, help="QR e-invitations: invite guests, check passes at the desk (online or offline)."
)


def _time(text: str, what: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise malformed(f"--{what} is not an ISO 8601 time, e.g. 2026-11-24T09:00+07:00") from None
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)  # people at a ward office mean local time


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        if path.stat().st_size > limit:
            raise ServiceError(
                Kind.TOO_LARGE, f"the {what} {path} is larger than {limit // (1024 * 1024)} MB"
            )
        return path.read_bytes()
    except OSError as exc:
        raise malformed(f"cannot read the {what} {path}: {exc.strerror}") from None


def _describe(view: service.InvitationView) -> None:
    out.print(f"invitation  {view.id} ({view.status}, version {view.token_version})")
    out.print(f"guest       {view.guest_name}" + (f" (CCCD {view.cccd_masked})" if view.cccd_masked else ""))
    out.print(f"host        {view.host_name} ({view.host})")
    out.print(f"meeting     {view.meeting_title} at {view.venue}")
    for o in view.occurrences:
        out.print(
            f"            {display(o.starts_at)} → {display(o.ends_at)}  entries used {o.entries_used}"
            f"/{view.entries_allowed}"
        )
    if view.payload:
        out.print(f"QR text     {view.payload}")


def _write_qr(payload: str | None, png: Path | None, svg: Path | None) -> None:
    from invitations import qr

    if not payload or not (png or svg):
        return
    code = qr.render(payload)
    if png:
        png.write_bytes(code.png())
        err.print(f"QR code (version {code.version}, level Q) written to {png}")
    if svg:
        svg.write_bytes(code.svg())
        err.print(f"QR code written to {svg}")


@app.command("create")
@handles_errors
def create(
    host: Annotated[str, typer.Option(help="the hosting official's username")],
    guest_name: Annotated[str, typer.Option(help="the guest's full name, with diacritics")],
    venue: Annotated[str, typer.Option(help="venue code (kyso venue list)")],
    start: Annotated[str, typer.Option(help="ISO 8601, e.g. 2026-11-24T09:00+07:00 (local time if no zone)")],
    end: Annotated[str, typer.Option(help="ISO 8601 end of the meeting")],
    title: Annotated[str, typer.Option(help="meeting title")] = "Làm việc",
    cccd: Annotated[str | None, typer.Option(help="the guest's CCCD (stored hashed, shown masked)")] = None,
    email: Annotated[str | None, typer.Option(help="the guest's email")] = None,
    phone: Annotated[str | None, typer.Option(help="the guest's phone")] = None,
    entries: Annotated[int, typer.Option(min=1, max=MAX_ENTRIES, help="entries per day")] = 1,
    companion: Annotated[list[str] | None, typer.Option("--companion", help="an accompanying guest")] = None,
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="same hours on N days")] = 1,
    rotating: Annotated[bool, typer.Option(help="require the live rotating code (anti-sharing)")] = False,
    notify_webhook: Annotated[str | None, typer.Option(help="URL told of the guest's arrival")] = None,
    notify_email: Annotated[str | None, typer.Option(help="email told of the guest's arrival")] = None,
    send_email: Annotated[bool, typer.Option(help="email the invitation to --email")] = False,
    honorific: Annotated[str | None, typer.Option(help='the pass greets "Kính gửi Ông …": Ông, Bà…')] = None,
    host_contact: Annotated[
        str | None, typer.Option(help="the host's phone, shown to desk and guest")
    ] = None,
    qr_png: Annotated[Path | None, typer.Option(help="write the QR code as PNG here")] = None,
    qr_svg: Annotated[Path | None, typer.Option(help="write the QR code as SVG here")] = None,
    json_output: JsonOption = False,
) -> None:
    """Invite a guest; prints the invitation and its QR text."""
    from invitations.service import InvitationInput
    from services import invitations

    rt = runtime()
    data = InvitationInput(
        guest_name=guest_name,
        venue=venue,
        starts_at=_time(start, "start"),
        ends_at=_time(end, "end"),
        meeting_title=title,
        cccd=cccd,
        guest_email=email,
        guest_phone=phone,
        entries=entries,
        companions=tuple(companion or ()),
        days=days,
        rotating=rotating,
        notify_webhook=notify_webhook,
        notify_email=notify_email,
        guest_title=honorific,
        host_contact=host_contact,
    )
    created = invitations.create(rt, cli_as_actor(), data, host=host, send_email=send_email)
    _write_qr(created.payload, qr_png, qr_svg)
    if send_email:
        _deliver_now(rt)
    if json_output:
        print_json(created.as_json())
        return
    _describe(created)


@app.command("list")
@handles_errors
def list_invitations(
    venue: Annotated[str | None, typer.Option(help="only this venue")] = None,
    day: Annotated[str | None, typer.Option(help="only with an occurrence on this day (YYYY-MM-DD)")] = None,
    status: Annotated[str | None, typer.Option(help="active | cancelled")] = None,
    host: Annotated[str | None, typer.Option(help="only this host's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json_output: JsonOption = False,
) -> None:
    """List invitations, latest first."""
    from invitations import service

    rt = runtime()
    try:
        on_day = dt.date.fromisoformat(day) if day else None
    except ValueError:
        raise malformed("--day is YYYY-MM-DD") from None
    with rt.db.reading() as session:
        owner = service.host_of(session, host).account_id if host else None
        items, total = service.search(
            session, owner=owner, venue=venue, day=on_day, status=status, limit=limit
        )
    if json_output:
        print_json({"total": total, "items": [i.as_json() for i in items]})
        return
    for item in items:
        out.print(
            f"{item.id}  {display(item.starts_at)}  {item.venue}  {item.status:<9}  {item.guest_name}"
            f"  ← {item.host_name}"
        )
    out.print(f"{len(items)} of {total}")


@app.command("show")
@handles_errors
def show(
    invitation_id: Annotated[str, typer.Argument()],
    qr_png: Annotated[Path | None, typer.Option(help="write the QR code as PNG here")] = None,
    qr_svg: Annotated[Path | None, typer.Option(help="write the QR code as SVG here")] = None,
    json_output: JsonOption = False,
) -> None:
    """One invitation with its current QR text."""
    from invitations import service

    rt = runtime()
    ctx = rt.invitations
    with rt.db.reading() as session:
        shown = service.view(session, ctx, invitation_id, with_payload=True)
    _write_qr(shown.payload, qr_png, qr_svg)
    print_json(shown.as_json()) if json_output else _describe(shown)


@app.command("amend")
@handles_errors
def amend(
    invitation_id: Annotated[str, typer.Argument()],
    guest_name: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    start: Annotated[str | None, typer.Option()] = None,
    end: Annotated[str | None, typer.Option()] = None,
    days: Annotated[int | None, typer.Option(min=1, max=MAX_DAYS)] = None,
    entries: Annotated[int | None, typer.Option(min=1, max=MAX_ENTRIES)] = None,
    cccd: Annotated[str | None, typer.Option(help='a new CCCD, or "" to remove it')] = None,
    qr_png: Annotated[Path | None, typer.Option(help="write the new QR code as PNG here")] = None,
    json_output: JsonOption = False,
) -> None:
    """Change an invitation: a new QR is issued and the old one is refused from now on."""
    from invitations.service import Amendment
    from services import invitations

    rt = runtime()
    changes = Amendment(
        guest_name=guest_name,
        meeting_title=title,
        starts_at=_time(start, "start") if start else None,
        ends_at=_time(end, "end") if end else None,
        days=days,
        entries=entries,
        cccd=cccd,
    )
    amended = invitations.amend(rt, cli_as_actor(), invitation_id, changes)
    _write_qr(amended.payload, qr_png, None)
    print_json(amended.as_json()) if json_output else _describe(amended)


@app.command("cancel")
@handles_errors
def cancel(invitation_id: Annotated[str, typer.Argument()], json_output: JsonOption = False) -> None:
    """Cancel an invitation: its QR is refused from now on (offline desks after their next bundle)."""
    from services import invitations

    cancelled = invitations.cancel(runtime(), cli_as_actor(), invitation_id)
    if json_output:
        print_json(cancelled.as_json())
        return
    out.print(f"invitation {cancelled.id} cancelled")


def _print_decision(decision: Decision, json_output: bool) -> None:
    if json_output:
        print_json(decision.as_json())
        return
    shown = decision.as_json()
    if decision.admitted:
        out.print(f"MỜI VÀO — ADMIT  {decision.guest_name}")
    else:
        out.print(f"TỪ CHỐI — DENY  {shown['reason']} ({shown['reason_code']})")
        if decision.guest_name:
            out.print(f"guest    {decision.guest_name}")
    if decision.host_name:
        out.print(f"host     {decision.host_name}")
    if decision.host_contact:
        out.print(f"contact  {decision.host_contact}")
    if decision.meeting_title:
        out.print(f"meeting  {decision.meeting_title}")
    if decision.companions:
        out.print(f"with     {', '.join(decision.companions)}")
    out.print(f"detail   {decision.detail}")
    out.print(f"next     {shown['next_action']} — {shown['next_action_en']}")
    for note in decision.notes:
        out.print(f"note     {note}")


def _scanned_text(payload: str | None, image: Path | None) -> str | None:
    """The QR text to check; None when the image holds no QR code."""
    from invitations import qr

    if (payload is None) == (image is None):
        raise malformed("give the scanned text or --image FILE (one of them)")
    if payload is not None:
        return payload
    texts = qr.read(_read(image, "image", qr.MAX_IMAGE_BYTES))
    ours = [t for t in texts if t.startswith(("KY1:", "KR1:"))] or texts
    return ours[0] if ours else None


@app.command("check")
@handles_errors
def check(
    payload: Annotated[str | None, typer.Argument(help="the scanned QR text (KY1:… or KR1:…)")] = None,
    desk: Annotated[str, typer.Option(help="the desk scanning")] = "",
    image: Annotated[Path | None, typer.Option(help="a photo or scan of the QR code (PNG, JPEG…)")] = None,
    card_qr: Annotated[
        str | None, typer.Option(help="the QR text of the guest's CCCD card, to compare")
    ] = None,
    offline_mode: Annotated[
        bool, typer.Option("--offline", help="decide from --bundle, without the database")
    ] = False,
    bundle: Annotated[Path | None, typer.Option(help="the desk bundle (kyso invite bundle)")] = None,
    trust: Annotated[
        Path | None, typer.Option(help="the Kyso root certificate (PEM) the bundle must chain to")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="offline journal (default: next to the bundle)")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Admit or deny a pass at a desk. Exit status 0 = admit, 1 = deny."""
    if not desk:
        raise malformed("--desk is required: the desk or gate doing the check")
    scanned = _scanned_text(payload, image)
    if offline_mode:
        decision = _check_offline(scanned, desk, bundle, trust, journal)
    else:
        decision = _check_online(scanned, desk, card_qr)
    _print_decision(decision, json_output)
    raise typer.Exit(0 if decision.admitted else 1)


def _check_online(scanned: str | None, desk_code: str, card_qr: str | None) -> Decision:
    from services import checkins

    return checkins.check_in(runtime(), cli_as_actor(), desk_code, scanned, card_qr=card_qr)


def _roots(trust: Path) -> list[x509.Certificate]:
    from cryptography import x509

    data = _read(trust, "trust file", 1024 * 1024)
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise malformed(f"{trust} holds no PEM certificate; `kyso ca chain --ca root -o root.pem`") from None


def _check_offline(
    scanned: str | None, desk: str, bundle: Path | None, trust: Path | None, journal: Path | None
) -> Decision:
    from invitations import offline
    from invitations.checkin import Decision
    from invitations.reasons import Reason

    if bundle is None or trust is None:
        raise malformed("--offline needs --bundle FILE and --trust ROOT.pem")
    clock = SystemClock()
    opened = offline.open_bundle(
        _read(bundle, "bundle", offline.MAX_BUNDLE_BYTES), _roots(trust), clock.now()
    )
    if scanned is None:
        return Decision(False, Reason.NO_QR, "no QR code in the image", desk, opened.venue_code)
    path = journal or bundle.with_name(f"{bundle.stem}.{desk}.journal.jsonl")
    return offline.OfflineDesk(opened, desk, path, clock).check(scanned)


@app.command("checkout")
@handles_errors
def checkout(
    payload: Annotated[str | None, typer.Argument(help="scan the pass again")] = None,
    desk: Annotated[str, typer.Option(help="the desk")] = "",
    checkin_id: Annotated[int | None, typer.Option("--checkin", help="or the check-in id")] = None,
    json_output: JsonOption = False,
) -> None:
    """Check a guest out."""
    from services import checkins

    if not desk:
        raise malformed("--desk is required")
    done = checkins.check_out(runtime(), cli_as_actor(), desk, checkin_id=checkin_id, scanned=payload)
    print_json(done.as_json()) if json_output else out.print(
        f"{done.guest_name} checked out at {display(done.checked_out_at)}"
    )


@app.command("bundle")
@handles_errors
def bundle(
    venue: Annotated[str, typer.Option(help="the venue whose desks will use it")],
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the bundle")],
    hours: Annotated[int, typer.Option(min=1, max=72, help="how long it stays usable")] = 24,
) -> None:
    """Write the signed offline bundle for a venue's desks (keys, cancellations, venue config)."""
    from services import checkins

    data = checkins.bundle(runtime(), cli_as_actor(), venue, hours)
    output.write_bytes(data)
    out.print(f"bundle for {venue} written to {output} ({len(data)} bytes, valid {hours} h)")


@app.command("sync")
@handles_errors
def sync(
    journal: Annotated[Path, typer.Argument(help="the offline desk's journal (.jsonl)")],
    desk: Annotated[str, typer.Option(help="the desk that wrote it")],
    json_output: JsonOption = False,
) -> None:
    """Record an offline desk's journal; a pass admitted twice is flagged as a conflict."""
    from invitations import offline
    from services import checkins

    records = offline.read_journal(journal)
    outcomes = checkins.sync(runtime(), cli_as_actor(), desk, records)
    if json_output:
        print_json([o.as_json() for o in outcomes])
        return
    for outcome in outcomes:
        out.print(f"{outcome.outcome:<9} {outcome.invitation_id or '-'}  {outcome.detail}")


@app.command("conflicts")
@handles_errors
def conflicts(json_output: JsonOption = False) -> None:
    """Passes admitted at two offline desks, waiting for review."""
    from services import checkins

    rows = checkins.conflicts(runtime(), cli_as_actor())  # the operator's console: every venue
    if json_output:
        print_json(rows)
        return
    for row in rows:
        out.print(f"{row['id']}  {row['desk']}  {row['scanned_at']}  {row['invitation_id']}  {row['detail']}")
    out.print(f"{len(rows)} conflict(s) to review")


@app.command("review")
@handles_errors
def review(conflict_id: Annotated[int, typer.Argument(help="the id `kyso invite conflicts` shows")]) -> None:
    """Mark a conflict as reviewed (after talking to the desks and the host)."""
    from services import checkins

    checkins.review_conflict(runtime(), cli_as_actor(), conflict_id)
    out.print(f"conflict {conflict_id} reviewed")


@app.command("report")
@handles_errors
def report(
    venue: Annotated[str, typer.Option(help="the venue")],
    day: Annotated[str | None, typer.Option(help="YYYY-MM-DD (today by default)")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write the report as CSV here")] = None,
    json_output: JsonOption = False,
) -> None:
    """Today's expected guests, arrivals and no-shows at a venue."""
    from invitations import reports

    rt = runtime()
    now = rt.clock.now()
    try:
        on_day = dt.date.fromisoformat(day) if day else now.astimezone(VIETNAM).date()
    except ValueError:
        raise malformed("--day is YYYY-MM-DD") from None
    with rt.db.reading() as session:
        found = reports.day_report(session, venue, on_day, now)
    if csv:
        csv.write_text(found.csv(), encoding="utf-8")
    if json_output:
        print_json(found.as_json())
        return
    counts = found.counts()
    out.print(
        f"{found.venue_name} — {found.day.isoformat()}: {counts['arrived_total']} arrived "
        f"({counts['inside']} inside), {counts['expected']} expected, {counts['no-show']} no-show"
    )
    for row in found.rows:  # labelled: the meeting's start is not the arrival

        def hhmm(value: dt.datetime | None) -> str:
            return display(value)[11:16] if value else "--:--"

        times = f"meeting {hhmm(row.starts_at)}  in {hhmm(row.admitted_at)}  out {hhmm(row.checked_out_at)}"
        out.print(f"  {row.status:<9} {times}  {row.guest}  ← {row.host}")


@app.command("letter")
@handles_errors
def letter(
    invitation_id: Annotated[str, typer.Argument()],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the PDF")],
    json_output: JsonOption = False,
) -> None:
    """The invitation letter (giấy mời) with the QR, sealed PAdES B-LT by the host's agency.

    Sealed once per version of the invitation and kept: later calls give the same file. The host's agency
    is the organisation on a certificate bound to the host (`kyso user bind-cert`); this service must hold
    that agency's seal certificate (`kyso ca issue agency-seal --organization … --keygen ec-p256`).
    """
    from services import invitations

    sealed = invitations.letter(runtime(), cli_as_actor(), invitation_id)
    output.write_bytes(sealed.pdf)
    facts = {
        "invitation_id": sealed.invitation_id, "document_id": sealed.document_id,
        "organization": sealed.organization, "sealed_now": sealed.fresh, "file": str(output),
    }  # fmt: skip
    if json_output:
        print_json(facts)
    else:
        out.print(f"wrote {output} — sealed by {sealed.organization}; verify: /verify/{sealed.document_id}")


def _deliver_now(rt: Kyso) -> notify.Delivery:
    from services import invitations

    result = invitations.deliver(rt, cli_as_actor())
    if result.retried or result.failed:
        err.print(
            f"[yellow]{result.retried + result.failed} message(s) not delivered yet[/yellow] (KYSO_SMTP_*)"
        )
    return result


@app.command("deliver")
@handles_errors
def deliver() -> None:
    """Send due notifications now (the service's worker does this every few seconds)."""
    result = _deliver_now(runtime())
    out.print(f"sent {result.sent}, to retry {result.retried}, given up {result.failed}")


@app.command("housekeeping")
@handles_errors
def housekeeping(json_output: JsonOption = False) -> None:
    """End-of-day check-out and guest-data anonymisation (KYSO_INVITATION_RETENTION_DAYS)."""
    from services import invitations

    result = invitations.housekeeping(runtime(), cli_as_actor())
    print_json(result) if json_output else out.print(json.dumps(result))


@app.command("retire-key")
@handles_errors
def retire_key(kid: Annotated[str, typer.Argument(help="the 8-byte key id, hex")]) -> None:
    """Stop trusting an old seal key: its passes are refused as "unknown key"."""
    from services import invitations

    retired = invitations.retire_key(runtime(), cli_as_actor(), kid)
    out.print(f"key {retired} retired")
