"""Certificates after the request is parsed: issue, revoke, suspend, reinstate, renew, bulk enrolment.

Each function here is the one place its use case is written; `api/routers/certificates.py` and
`kyso ca …` (cli/ca_cmd.py) parse their input, call it with the ``Actor`` they act for, and render
what it returns. Every state change runs in one transaction with its audit entry
(``certificate.issue`` / ``.revoke`` / ``.suspend`` / ``.reinstate`` / ``.renew``, target the serial),
so a refused change (ca.lifecycle raises a ServiceError) rolls back and leaves no entry.

The entries' details: ``profile`` for an issue, ``reason`` for a revocation, ``renews`` (the old serial)
for a renewal, ``via: "bulk-issue"`` for each certificate of a bulk run; none for suspend and reinstate.

Serials are full serials: the CLI resolves a typed prefix first (cli.common.resolve_serial).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ca import bulk, lifecycle
from services import approvals
from services.audit import Actor, record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ca.bulk import BulkFile, RowOutcome
    from ca.issuance import Issued, IssueRequest
    from ca.records import CertificateInfo
    from services.root import Kyso


APPROVED_PROFILES = ("official", "agency-seal")  # whose revocation an approval policy can hold


# --- reading ----------------------------------------------------------------------------------------
def show(kyso: Kyso, serial: str) -> CertificateInfo:
    with kyso.db.reading() as session:
        return lifecycle.show(kyso.ca, session, serial)


def search(
    kyso: Kyso,
    *,
    serial: str | None = None,
    cccd: str | None = None,
    tax_code: str | None = None,
    name: str | None = None,
    status: str | None = None,
    profile: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CertificateInfo], int]:
    """The certificates matching every filter given, newest first, and how many match in all."""
    with kyso.db.reading() as session:
        return lifecycle.search(
            kyso.ca,
            session,
            serial=serial,
            cccd=cccd,
            tax_code=tax_code,
            name=name,
            status=status,
            profile=profile,
            limit=limit,
            offset=offset,
        )


# --- one certificate ----------------------------------------------------------------------------------
def issue(kyso: Kyso, actor: Actor, request: IssueRequest) -> Issued:
    with kyso.db.transaction() as session:
        issued = kyso.ca.issue(session, request)
        record(session, kyso, actor, "certificate.issue", issued.certificate.serial, profile=request.profile)
    return issued


def revoke(
    kyso: Kyso, actor: Actor, serial: str, reason: str, invalidity_date: dt.datetime | None = None
) -> CertificateInfo:
    """Revoke for good with an RFC 5280 reason (CONFLICT if already revoked, MALFORMED for a bad reason).

    An official's or agency seal's certificate, when the ``certificate.revoke`` approval policy asks for
    approvals, is not revoked: the request is filed (services.approvals) and ``approvals.Pending`` (409,
    naming the request) is raised once it is committed."""
    with kyso.db.transaction() as session:
        current = lifecycle.show(kyso.ca, session, serial)
        if current.profile not in APPROVED_PROFILES or not approvals.required(session, "certificate.revoke"):
            return revoke_in(session, kyso, actor, serial, reason, invalidity_date)
        _check_revocation(kyso, current, reason, invalidity_date)  # refused now, not once approved
        since = invalidity_date.isoformat() if invalidity_date else None
        waiting = approvals.file(session, kyso, actor, "certificate.revoke", current.serial,
                                 {"reason": reason, "invalidity_date": since})  # fmt: skip
    raise approvals.Pending(waiting)


def _check_revocation(
    kyso: Kyso, current: CertificateInfo, reason: str, invalidity_date: dt.datetime | None
) -> None:
    """What ca.lifecycle.revoke would refuse before it changes anything, for a request to be filed."""
    from ca.records import REVOCATION_REASONS
    from core.errors import conflict, malformed

    if reason not in REVOCATION_REASONS:
        raise malformed(
            f"unknown revocation reason {reason!r}; choose one of {', '.join(REVOCATION_REASONS)}"
        )
    if invalidity_date is not None and invalidity_date > kyso.clock.now():
        raise malformed("the invalidity date cannot be in the future")
    if current.status == "revoked":
        raise conflict(f"certificate {current.serial} is already revoked ({current.revocation_reason})")


def revoke_in(
    session: Session,
    kyso: Kyso,
    actor: Actor,
    serial: str,
    reason: str,
    invalidity_date: dt.datetime | None = None,
    **details: Any,
) -> CertificateInfo:
    """The revocation and its audit entry in the caller's transaction (an approved request's, too)."""
    info = lifecycle.revoke(kyso.ca, session, serial, reason, invalidity_date)
    record(session, kyso, actor, "certificate.revoke", info.serial, reason=reason, **details)
    return info


def suspend(kyso: Kyso, actor: Actor, serial: str) -> CertificateInfo:
    with kyso.db.transaction() as session:
        info = lifecycle.suspend(kyso.ca, session, serial)
        record(session, kyso, actor, "certificate.suspend", info.serial)
    return info


def reinstate(kyso: Kyso, actor: Actor, serial: str) -> CertificateInfo:
    with kyso.db.transaction() as session:
        info = lifecycle.reinstate(kyso.ca, session, serial)
        record(session, kyso, actor, "certificate.reinstate", info.serial)
    return info


def renew(
    kyso: Kyso,
    actor: Actor,
    serial: str,
    *,
    csr: bytes | None = None,
    keygen: str | None = None,
    pkcs12_password: str | None = None,
) -> Issued:
    """Re-key: a new certificate for the same subject; the old one is revoked (superseded) with it."""
    with kyso.db.transaction() as session:
        issued = lifecycle.renew(
            kyso.ca, session, serial, csr=csr, keygen=keygen, pkcs12_password=pkcs12_password
        )
        record(
            session,
            kyso,
            actor,
            "certificate.renew",
            issued.certificate.serial,
            renews=issued.certificate.renewed_from,
        )
    return issued


# --- bulk enrolment -----------------------------------------------------------------------------------
def start_bulk_run(kyso: Kyso, source: BulkFile) -> set[int]:
    """Register the run of this file (or find it again); the row numbers an earlier run already did."""
    with kyso.db.transaction() as session:
        return bulk.start_run(session, source, kyso.clock.now())


def bulk_issue(
    kyso: Kyso, actor: Actor, source: BulkFile, done: set[int], *, workers: int
) -> Iterator[RowOutcome]:
    """Issue every row not in ``done``, yielding outcomes as batches commit (for a progress bar). Each
    certificate's ``certificate.issue`` entry is written in its batch's transaction (ca.bulk on_issued)."""

    def audited(session: Session, serial: str) -> None:
        record(session, kyso, actor, "certificate.issue", serial, via="bulk-issue")

    return bulk.run(kyso.db, kyso.ca, source, done, workers=workers, on_issued=audited)


def finish_bulk_run(kyso: Kyso, source: BulkFile, results: Path) -> dict[str, int]:
    """Close the run, write its per-row results CSV to ``results``; the run's totals over every attempt."""
    with kyso.db.transaction() as session:
        totals = bulk.finish_run(session, source.run_id, kyso.clock.now())
        bulk.write_results(session, source, results)
    return totals


# --- revocation lists ---------------------------------------------------------------------------------
def republish_stale_crls(kyso: Kyso) -> list[str]:
    """A new CRL for every authority whose stored one has passed half its validity (or has none), each in
    its own transaction; the authorities republished. A CRL fetch does the same for its authority, so
    this only keeps the stored CRLs fresh for caches and mirrors when nobody fetches them."""
    from ca import crl
    from store import repositories

    with kyso.db.reading() as session:  # the stored authorities' ids: no certificate need be parsed
        ids = [row.id for row in repositories.authorities(session)]
        stale = [a for a in ids if crl.current(session, kyso.ca, a) is None]
    for authority_id in stale:
        with kyso.db.transaction() as session:
            if crl.current(session, kyso.ca, authority_id) is None:  # another runner may have just done it
                crl.publish(session, kyso.ca, authority_id)
    return stale
