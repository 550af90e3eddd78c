"""Verification use cases: check a PDF against the trust list and say what this service signed itself,
seal the report, find a registered document, and manage the trust anchors.

``api/routers/verify.py``, the citizens' pages (``api/pages/verify.py``) and ``kyso verify`` / ``kyso
trust`` only read the input, call these and render. Every PDF is checked in a bounded child process
(``verification.isolation``; pre-forked workers for the service's own trust list, ``verification.pool``)
except when revocation is fetched in process (the CLI's
``--fetch-revocation``: the responder lives in this process's database connection).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from core.clock import display
from core.errors import not_found
from services.audit import Actor, record

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy.orm import Session

    from services.approvals import Approval
    from services.root import Kyso
    from signing.registry import RegisteredDocument
    from signing.service import SigningKey
    from verification.anchors import AnchorInfo, ProfileInfo
    from verification.pool import VerifierPool
    from verification.report import IssuedRecord, VerificationReport
    from verification.trust import TrustStore
    from verification.validate import Limits, Verifier

SEAL_REASON = "Báo cáo kiểm tra chữ ký số / Signature verification report"


class Verifiers:
    """One ``Verifier`` per trust list (its anchors parsed once, the revocation data it has seen kept),
    replaced when operators change the anchors, with its pool of pre-forked bounded workers
    (``verification.pool``). One per process: ``Kyso.verifiers``."""

    def __init__(self, limits: Limits, now: Callable[[], dt.datetime]) -> None:
        self.limits = limits
        self._now = now
        self._current: tuple[tuple[str, ...], Verifier, VerifierPool] | None = None
        self._lock = threading.Lock()

    def for_trust(self, store: TrustStore) -> Verifier:
        return self._kept(store)[1]

    def pool_for(self, store: TrustStore) -> VerifierPool:
        """The workers that check documents against ``store`` (reports with their revisions)."""
        return self._kept(store)[2]

    def _kept(self, store: TrustStore) -> tuple[tuple[str, ...], Verifier, VerifierPool]:
        from verification.isolation import shared_slots
        from verification.pool import VerifierPool
        from verification.revisions import WithRevisions
        from verification.validate import Verifier

        key = (store.name, *store.fingerprints)
        with self._lock:
            retired = None
            if self._current is None or self._current[0] != key:
                retired = self._current
                verifier = Verifier(store, limits=self.limits, now=self._now)
                checker = cast("Verifier", WithRevisions(verifier))  # reports say what each revision changed
                self._current = (key, verifier, VerifierPool(checker, slots=shared_slots()))
            current = self._current
        if retired is not None:
            retired[2].close()  # its workers know the old trust list
        return current


# --- checking a PDF -----------------------------------------------------------------------------------
def trust_list(session: Session, kyso: Kyso) -> TrustStore:
    """The anchors of the trust profiles in force: by default Kyso's own root and the anchors operators
    added; the bundled public roots when operators switched their profiles on."""
    from verification import anchors

    return anchors.trust_list(session, _own_roots(session, kyso))


def _own_roots(session: Session, kyso: Kyso) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization

    return [kyso.ca.chain(session, "root")[-1].public_bytes(serialization.Encoding.DER)]


def verify(
    kyso: Kyso, data: bytes, *, trust: TrustStore | None = None, fetch_revocation: bool = False
) -> VerificationReport:
    """The report on ``data``: every signature checked against ``trust`` (default: the instance's trust
    list), and the documents this service registered with the same hash. Blocking: a thread in async code.
    ``fetch_revocation`` asks this service's own OCSP responder, in process."""
    from verification.isolation import verify_bounded
    from verification.revisions import WithRevisions
    from verification.validate import Verifier, check_input

    if trust is None:
        with kyso.db.reading() as session:
            store = trust_list(session, kyso)
    else:
        store = trust
    if trust is None and not fetch_revocation:  # the service's own trust list: its kept workers
        check_input(data, kyso.verifiers.limits)  # cheap refusals need no worker
        report = kyso.verifiers.pool_for(store).check(data)
    else:
        fetch_ocsp = _own_ocsp(kyso) if fetch_revocation else None
        verifier = Verifier(store, limits=kyso.verifiers.limits, fetch_ocsp=fetch_ocsp, now=kyso.clock.now)
        checker = WithRevisions(verifier)  # the report says what each revision of the file changed
        bounded = cast("Verifier", checker)
        report = asyncio.run(checker.verify(data)) if fetch_revocation else verify_bounded(bounded, data)
    with kyso.db.reading() as session:
        issued = issued_by_us(session, report)
        return replace(report, issued_by_us=issued, test_pki_fields=_test_pki_fields(session, kyso, report))


def issued_by_us(session: Session, report: VerificationReport) -> list[IssuedRecord]:
    """The documents this service registered that the upload is, or extends: a registered file's hash is
    the hash of one of the upload's revisions (its bytes are a prefix of the upload). Each is described
    against the document as first signed (what its first stamp's QR names): the same file, the same file
    signed or sealed afterwards, or changed after signing."""
    from signing import registry
    from verification.report import IssuedRecord
    from verification.revisions import relation

    hashes = [report.sha256, *(r.sha256 for r in report.revisions)]
    newest: dict[str, registry.Revision] = {}
    for found in registry.revisions_with_hashes(session, hashes):
        if found.document_id not in newest or found.number > newest[found.document_id].number:
            newest[found.document_id] = found
    records = []
    for document_id, found in newest.items():
        first = registry.revisions(session, document_id)[0] if found.number > 1 else found
        related = relation(report, first.sha256, first.size) or relation(report, found.sha256, found.size)
        kind, added_by = related if related is not None else ("same", [])
        signed = first.signed
        records.append(
            IssuedRecord(
                document_id, signed.signer_name, signed.organization, signed.reference_number, signed.level,
                display(signed.signed_at), revision=found.number, relation=kind,
                registered_id=found.signed.id, added_by=added_by, registered_size=first.size,
            )
        )  # fmt: skip
    return records


@dataclass(frozen=True)
class Relation:
    """An upload against the document a stamp's QR names (/verify/<id>)."""

    kind: str  # same | signed-after | validation-added | changed-after | earlier | different
    added_by: list[str]  # signed-after: who signed or sealed afterwards
    document_id: str  # the document's id (its first revision's)
    revision: int  # which revision of it the id names


def relation_to(kyso: Kyso, report: VerificationReport, document_id: str) -> Relation:
    """How an upload relates to the registered document ``document_id`` names; NOT_FOUND for an unknown
    id. "earlier": the upload is a registered revision before the one the id names."""
    from signing import registry
    from verification.revisions import relation

    with kyso.db.reading() as session:
        found = registry.find(session, document_id[:40])
        if found is None:
            raise not_found("no document signed by this service has that id")
        same_bytes = registry.revisions_with_hashes(session, [found.sha256])
        mine = next(
            (r for r in same_bytes if r.signed.id == found.id),
            registry.Revision(found.id, 1, found.sha256, found.size, found),
        )
        history = registry.revisions(session, mine.document_id)
    related = relation(report, found.sha256, found.size)
    if related is not None:
        return Relation(related[0], related[1], mine.document_id, mine.number)
    mine = next((r for r in history if r.number == mine.number), mine)  # with what it extends
    if any(r.sha256 == report.sha256 for r in registry.ancestors(history, mine)):
        return Relation("earlier", [], mine.document_id, mine.number)
    return Relation("different", [], mine.document_id, mine.number)


def _test_pki_fields(session: Session, kyso: Kyso, report: VerificationReport) -> list[str]:
    """The signatures whose certificate Kyso's own CAs issued (the test hierarchy `kyso init` creates,
    ca/hierarchy.py): their notice says the certificate has no legal standing."""
    from asn1crypto import x509 as asn1_x509

    from store import repositories

    names = {
        asn1_x509.Certificate.load(a.certificate_der).subject.human_friendly
        for a in repositories.authorities(session)  # one query for every authority of this instance
    }
    return [s.field for s in report.signatures if s.issuer in names]


def _own_ocsp(kyso: Kyso) -> Callable[[x509.Certificate, x509.Certificate], bytes | None]:
    from ca.ocsp import OcspResponder
    from core.ids import serial_hex

    responder = OcspResponder(kyso.ca)

    def fetch(certificate: x509.Certificate, issuer: x509.Certificate) -> bytes | None:
        try:
            with kyso.db.transaction() as session:
                return responder.produce_for(session, serial_hex(certificate.serial_number))
        except Exception:  # no answer is an answer too: the report says revocation is unknown
            return None

    return fetch


async def sealed_report(kyso: Kyso, report: VerificationReport) -> bytes:
    """The report as a PDF sealed PAdES B-LT by the report-seal certificate (issued on first use)."""
    from ca.hierarchy import report_seal
    from signing.pades import Level
    from signing.service import Appearance, DocumentIn, SignRequest
    from verification.pdf_report import report_pdf

    def prepare() -> tuple[SigningKey, bytes]:
        with kyso.db.transaction() as session:
            serial = report_seal(session, kyso.ca)
        return kyso.signing.keys.signing_key(serial), report_pdf(report)

    key, pdf = await asyncio.to_thread(prepare)
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE, reason=SEAL_REASON)
    [sealed] = await kyso.signing.sign(key, [DocumentIn("verification-report.pdf", io.BytesIO(pdf))], request)
    return sealed.output.read()


def registered(kyso: Kyso, document_id: str) -> RegisteredDocument:
    """A document this service signed, by the id its stamp's QR names; NOT_FOUND otherwise."""
    from signing import registry

    with kyso.db.reading() as session:
        found = registry.find(session, document_id[:40])
    if found is None:
        raise not_found("no document signed by this service has that id")
    return found


# --- the trust list -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrustListing:
    name: str
    fingerprints: list[str]  # every anchor trusted, Kyso's own root included
    added: list[AnchorInfo]  # those operators added

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "fingerprints": self.fingerprints,
            "added": [a.__dict__ for a in self.added],
        }


def anchors_listing(kyso: Kyso) -> TrustListing:
    """The trust list's name and fingerprints, and the anchors operators added."""
    from verification import anchors

    with kyso.db.reading() as session:
        store = trust_list(session, kyso)
        return TrustListing(store.name, list(store.fingerprints), anchors.listing(session))


TRUST_CHANGE = "trust.change"  # the approval policy that can hold every change below (services.approvals)


class _DryRun(Exception):
    pass


def _held(
    session: Session,
    kyso: Kyso,
    actor: Actor,
    target: str,
    params: dict[str, object],
    change: Callable[[Session], object],
) -> Approval | None:
    """When the trust.change policy asks for approvals: try ``change`` in a savepoint rolled back (so a
    bad input is refused now, by the same code) and file the request; None when nothing is held."""
    from services import approvals

    if not approvals.required(session, TRUST_CHANGE):
        return None
    try:
        with session.begin_nested():
            change(session)
            raise _DryRun
    except _DryRun:
        pass
    return approvals.file(session, kyso, actor, TRUST_CHANGE, target, params)


def add_anchor(kyso: Kyso, actor: Actor, label: str, certificate: bytes) -> AnchorInfo:
    """Trust another root (PEM or DER) when verifying (held for approval under a trust.change policy)."""
    import base64

    from services import approvals

    params: dict[str, object] = {
        "op": "add",
        "label": label,
        "certificate": base64.b64encode(certificate).decode(),
    }
    with kyso.db.transaction() as session:
        waiting = _held(session, kyso, actor, f"add:{label.strip()}", params,
                        lambda s: add_anchor_in(s, kyso, actor, label, certificate))  # fmt: skip
        if waiting is None:
            return add_anchor_in(session, kyso, actor, label, certificate)
    raise approvals.Pending(waiting)


def add_anchor_in(session: Session, kyso: Kyso, actor: Actor, label: str, certificate: bytes) -> AnchorInfo:
    from verification import anchors

    info = anchors.add(session, label, certificate, now=kyso.clock.now(), actor=actor.name)
    record(session, kyso, actor, "trust.add", info.fingerprint, label=info.label, subject=info.subject)
    return info


def remove_anchor(kyso: Kyso, actor: Actor, key: str) -> AnchorInfo:
    """Stop trusting an anchor an operator added (by label or fingerprint); held like add_anchor."""
    from services import approvals

    with kyso.db.transaction() as session:
        waiting = _held(session, kyso, actor, f"remove:{key}", {"op": "remove", "key": key},
                        lambda s: remove_anchor_in(s, kyso, actor, key))  # fmt: skip
        if waiting is None:
            return remove_anchor_in(session, kyso, actor, key)
    raise approvals.Pending(waiting)


def remove_anchor_in(session: Session, kyso: Kyso, actor: Actor, key: str) -> AnchorInfo:
    from verification import anchors

    info = anchors.remove(session, key)
    record(session, kyso, actor, "trust.remove", info.fingerprint, label=info.label)
    return info


# --- the trust profiles -------------------------------------------------------------------------------
def profiles_listing(kyso: Kyso) -> list[ProfileInfo]:
    """Every trust profile, whether it is on, and its anchors with their SHA-256 fingerprints."""
    from verification import anchors

    with kyso.db.reading() as session:
        return anchors.profile_listing(session, _own_roots(session, kyso))


def set_profile(kyso: Kyso, actor: Actor, name: str, enabled: bool) -> ProfileInfo:
    """Switch a trust profile on or off (``kyso trust profile enable|disable``); audited when it changes;
    held like add_anchor."""
    from services import approvals

    with kyso.db.transaction() as session:
        waiting = _held(session, kyso, actor, f"{'enable' if enabled else 'disable'}:{name}",
                        {"op": "profile", "name": name, "enabled": enabled},
                        lambda s: set_profile_in(s, kyso, actor, name, enabled))  # fmt: skip
        if waiting is None:
            return set_profile_in(session, kyso, actor, name, enabled)
    raise approvals.Pending(waiting)


def set_profile_in(session: Session, kyso: Kyso, actor: Actor, name: str, enabled: bool) -> ProfileInfo:
    from verification import anchors

    info, changed = anchors.set_profile(
        session, name, enabled, _own_roots(session, kyso), now=kyso.clock.now(), actor=actor.name
    )
    if changed:
        action = "trust.profile.enable" if enabled else "trust.profile.disable"
        fingerprints = ",".join(a.fingerprint for a in info.anchors)
        record(session, kyso, actor, action, info.name, fingerprints=fingerprints)
    return info
