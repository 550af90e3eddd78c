"""The hash-chained audit log: append in the action's transaction, verify, export, seal.

Every security-relevant event is one ``AuditEntry``: who (``actor``), what (``action``, ``target``),
when (``occurred_at``, UTC), from where (``source``), the ``outcome`` and free ``details``. Each entry
carries the hash of the one before it (``previous_hash``; the first names ``GENESIS``) and its own
``entry_hash``: SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of
``{seq, previous_hash, occurred_at, actor, action, target, outcome, source, details}``.

Appends are linear: ``append`` locks the single ``AuditHead`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite writers already hold the database lock from ``BEGIN IMMEDIATE``), so two actions
never take the same predecessor, and ``previous_hash`` is UNIQUE in the schema besides. The head lock is
held until the caller commits: append as late in the transaction as the action allows.

An entry is written in the caller's transaction, so it exists exactly when the action does. An action
whose *failure* must be recorded (a refused login, a denied check-in) must therefore commit the audit
entry rather than roll it back with the error.

``details`` never holds secrets: ``append`` refuses (ValueError) any key, at any depth, whose name
contains ``password``, ``secret``, ``token``, ``totp``, ``code`` or ``key`` (case-insensitive). The rule
is deliberately blunt — it also refuses ``tax_code`` or ``key_id``; name such fields otherwise
(``tax_id``, ``signer_serial``).

A hash chain alone does not stop someone who can write to the database from rewriting an entry and
recomputing every later hash. ``seal`` therefore signs the chain head with a service key (the caller
passes the signing function; the message is ``kyso-audit-seal:<seq>:<entry_hash>``) and has the
signature timestamped (RFC 3161); ``verify`` checks that each sealed (seq, entry_hash) is still in the
chain and that each seal's signature verifies with the caller's public key. History up to the latest
seal cannot be rewritten without the signing key. (Deleting the seal rows themselves is only visible to
someone who kept a copy — ``kyso audit seal --json`` prints one to archive.)
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from asn1crypto import cms, tsp
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import metrics
from core.clock import Clock, as_utc
from core.errors import Kind, ServiceError, conflict
from store import audit_repo
from store.db import after_commit
from store.models import AuditEntry, AuditHead, AuditSeal

GENESIS = "0" * 64
HEAD_ID = 1
BATCH_SIZE = 2000  # entries read per query by verify and export
SECRET_KEY_PARTS = ("password", "secret", "token", "totp", "code", "key")
SEAL_PREFIX = "kyso-audit-seal"
_ACTION = re.compile(r"^[a-z][a-z0-9_.:-]*$")
# Column widths of audit_entries; free text supplied by users is clipped to them, so an over-long
# username in a failed login is still recorded (the clipped value is what is hashed).
_WIDTHS = {"actor": 100, "target": 200, "source": 100}
_ACTION_WIDTH, _OUTCOME_WIDTH = 60, 20
_HEAD_ATTEMPTS = 3


# --- canonical form and hashing -----------------------------------------------------------------------
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text as is; NaN and infinities are refused."""
    return _CANONICAL.encode(value)


def timestamp_text(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-11-23T01:50:00.000000+00:00``."""
    return as_utc(value).isoformat(timespec="microseconds")


def compute_entry_hash(
    *,
    seq: int,
    previous_hash: str,
    occurred_at: dt.datetime,
    actor: str,
    action: str,
    target: str | None,
    outcome: str,
    source: str | None,
    details: Mapping[str, Any],
) -> str:
    payload = {
        "seq": seq,
        "previous_hash": previous_hash,
        "occurred_at": timestamp_text(occurred_at),
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "source": source,
        "details": details,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def seal_message(seq: int, entry_hash: str) -> bytes:
    """The bytes a seal signs."""
    return f"{SEAL_PREFIX}:{seq}:{entry_hash}".encode("ascii")


# --- records ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditRecord:
    seq: int
    previous_hash: str
    entry_hash: str
    occurred_at: dt.datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    source: str | None
    details: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "previous_hash": self.previous_hash,
            "entry_hash": self.entry_hash,
            "occurred_at": timestamp_text(self.occurred_at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "source": self.source,
            "details": self.details,
        }


@dataclass(frozen=True)
class SealRecord:
    id: int
    seq: int
    entry_hash: str
    sealed_at: dt.datetime
    signature: bytes
    signer_certificate_serial: str
    timestamp_token: bytes | None

    @classmethod
    def from_row(cls, row: AuditSeal) -> SealRecord:
        return cls(
            id=row.id,
            seq=row.seq,
            entry_hash=row.entry_hash,
            sealed_at=as_utc(row.sealed_at),
            signature=row.signature,
            signer_certificate_serial=row.signer_certificate_serial,
            timestamp_token=row.timestamp_token,
        )


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS
    seals: int = 0  # seal rows found
    seals_verified: int = 0  # seals whose signature was checked and verified
    signatures_checked: bool = False  # False when no seal_verifier was given
    bad_seal: int | None = None  # the id of a seal that was itself forged or altered
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- append -------------------------------------------------------------------------------------------
def _check_details(value: Any, path: str = "details") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path} keys must be strings, not {type(key).__name__}")
            lowered = key.lower()
            if any(part in lowered for part in SECRET_KEY_PARTS):
                raise ValueError(
                    f"{path}.{key}: audit details must not hold secrets; keys naming "
                    f"{'/'.join(SECRET_KEY_PARTS)} are refused"
                )
            _check_details(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_details(item, f"{path}[{index}]")


def _clip(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    width = _WIDTHS[name]
    return value if len(value) <= width else value[: width - 1] + "…"


def _locked_head(session: Session) -> tuple[int, str]:
    """(seq, entry hash) of the head row, locked until the transaction ends; created (0, GENESIS) on the
    first append. Core statements: every request that is audited pays for these."""
    for _ in range(_HEAD_ATTEMPTS):
        found = audit_repo.locked_head(session, HEAD_ID)
        if found is not None:
            return found[0], found[1]
        try:
            # Two first appends at once: the second waits on the primary key, then fails here and
            # locks the row the first committed.
            with session.begin_nested():
                audit_repo.create_head(session, HEAD_ID, GENESIS)
        except IntegrityError:
            continue
        # Only now is the answer stable: no one can commit entries while we hold the new head.
        if audit_repo.any_entry(session):
            raise ServiceError(
                Kind.INTERNAL, "the audit head is missing but entries exist; run `kyso audit verify`"
            )
        return 0, GENESIS
    raise ServiceError(Kind.UNAVAILABLE, "the audit log's head could not be locked; try again")


@dataclass(frozen=True)
class Entry:
    """One entry to append (see ``append`` for what each field holds)."""

    actor: str
    action: str
    outcome: str = "success"
    target: str | None = None
    source: str | None = None
    details: Mapping[str, Any] | None = None


def append(
    session: Session,
    *,
    clock: Clock,
    actor: str,
    action: str,
    outcome: str = "success",
    target: str | None = None,
    source: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditRecord:
    """Append one entry to the chain inside the caller's transaction (which must be able to write).

    ``actor``: username or ``system``/``operator``; ``action``: a lowercase dotted name such as
    ``auth.login`` or ``certificate.revoke``; ``outcome``: ``success``, ``failure``, ``admit``, ``deny``…;
    ``target``: what was acted on (a serial, a username); ``source``: where from (an IP address, ``cli``).
    Raises ValueError for a malformed action or outcome and for details that look like secrets or are
    not JSON.
    """
    entry = Entry(actor, action, outcome, target, source, details)
    return append_all(session, clock=clock, entries=[entry])[0]


def append_all(session: Session, *, clock: Clock, entries: Sequence[Entry]) -> list[AuditRecord]:
    """Append several entries, in order, with one lock of the head and one write of it (a desk's group of
    decisions). Every entry is checked as ``append`` checks it before anything is written."""
    checked = [checked_entry(entry) for entry in entries]
    if not checked:
        return []
    occurred_at = as_utc(clock.now())
    records, rows = chain(checked, *_locked_head(session), occurred_at)
    audit_repo.insert_entries_and_move_head(session, rows, HEAD_ID, records[-1].seq, records[-1].entry_hash)
    for record in records:
        after_commit(session, functools.partial(counted, record))
    return records


def counted(record: AuditRecord) -> None:
    """Tell the metrics about an entry that was kept (call after the commit)."""
    metrics.audited(record.action, record.outcome, record.details)


def chain(
    checked: Sequence[tuple[dict[str, Any], str]], head_seq: int, head_hash: str, occurred_at: dt.datetime
) -> tuple[list[AuditRecord], list[dict[str, Any]]]:
    """The records that follow the head (seq, hash) for entries made by ``checked_entry``, and the rows
    to insert for them (details as their canonical JSON). The caller holds the head's lock."""
    records: list[AuditRecord] = []
    rows: list[dict[str, Any]] = []
    for fields, details_json in checked:
        fields = {**fields, "seq": head_seq + 1, "previous_hash": head_hash, "occurred_at": occurred_at}
        record = AuditRecord(entry_hash=compute_entry_hash(**fields), **fields)
        records.append(record)
        rows.append({**fields, "entry_hash": record.entry_hash, "details": details_json})
        head_seq, head_hash = record.seq, record.entry_hash
    return records, rows


def checked_entry(entry: Entry) -> tuple[dict[str, Any], str]:
    """The fields as hashed and stored (clipped, details canonical), and the details' JSON."""
    actor, action, outcome = entry.actor, entry.action, entry.outcome
    if not actor:
        raise ValueError("an audit entry needs an actor")
    if not _ACTION.match(action) or len(action) > _ACTION_WIDTH:
        raise ValueError(f"audit action {action!r} must be a short lowercase dotted name")
    if not outcome or len(outcome) > _OUTCOME_WIDTH:
        raise ValueError(f"audit outcome {outcome!r} must be 1..{_OUTCOME_WIDTH} characters")
    details = dict(entry.details or {})
    _check_details(details)
    try:
        details_json = canonical_json(details)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit details must be plain JSON: {exc}") from None
    fields: dict[str, Any] = {
        "actor": _clip(actor, "actor") or "",
        "action": action,
        "target": _clip(entry.target, "target"),
        "outcome": outcome,
        "source": _clip(entry.source, "source"),
        "details": json.loads(details_json),  # exactly what verify will read back (tuples become lists…)
    }
    return fields, details_json


# --- reading the chain --------------------------------------------------------------------------------
def _rows(session: Session, after: int | None = None) -> Iterator[Row[Any]]:
    """Entries in seq order, ``BATCH_SIZE`` per query."""
    return audit_repo.entry_rows(session, after, BATCH_SIZE)


def _details(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _row_hash(row: Row[Any]) -> str | None:
    details = _details(row.details)
    if details is None:
        return None
    return compute_entry_hash(
        seq=row.seq,
        previous_hash=row.previous_hash,
        occurred_at=row.occurred_at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        source=row.source,
        details=details,
    )


def _record(row: Row[Any]) -> AuditRecord:
    details = _details(row.details)
    return AuditRecord(
        seq=row.seq,
        previous_hash=row.previous_hash,
        entry_hash=row.entry_hash,
        occurred_at=as_utc(row.occurred_at),
        actor=row.actor,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        source=row.source,
        details=details if details is not None else {"unreadable": row.details},
    )


def entries(session: Session, after: int | None = None) -> Iterator[AuditRecord]:
    """Every entry (after ``after``) in seq order, streamed."""
    for row in _rows(session, after):
        yield _record(row)


def concerning(session: Session, target: str, limit: int) -> list[AuditRecord]:
    """The latest ``limit`` entries whose target is ``target`` (an account's own activity), newest first."""
    return [_record(row) for row in audit_repo.rows_with_target(session, target, limit)]


def search(
    session: Session,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """The latest ``limit`` entries before seq ``before`` whose action and target start with those given
    and whose actor is ``actor`` (each filter optional), newest first."""
    rows = audit_repo.matching_rows(
        session, action=action, actor=actor, target=target, before=before, limit=limit
    )
    return [_record(row) for row in rows]


def current_head(session: Session) -> tuple[int, str]:
    """(seq, entry_hash) of the chain's head; (0, GENESIS) before the first append."""
    row = audit_repo.head(session, HEAD_ID)
    return (row[0], row[1]) if row is not None else (0, GENESIS)


def export(session: Session, out: TextIO) -> int:
    """Write every entry as one JSON object per line (hashes included); returns how many."""
    count = 0
    for record in entries(session):
        out.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


# --- verify -------------------------------------------------------------------------------------------
SealVerifier = Callable[[bytes, bytes], bool]  # (message, signature) -> valid?


def _signature_ok(verifier: SealVerifier, row: AuditSeal) -> bool:
    try:
        return bool(verifier(seal_message(row.seq, row.entry_hash), row.signature))
    except Exception:  # a verifier that chokes on garbage means: not a valid signature
        return False


def _timestamp_problem(row: AuditSeal) -> str | None:
    """Whether the RFC 3161 token's message imprint is the hash of the seal's signature."""
    if row.timestamp_token is None:
        return None
    try:
        content = cms.ContentInfo.load(row.timestamp_token)
        tst_info = content["content"]["encap_content_info"]["content"].parsed
        if not isinstance(tst_info, tsp.TSTInfo):
            raise ValueError("not a TSTInfo")
        imprint = tst_info["message_imprint"]
        name = imprint["hash_algorithm"]["algorithm"].native
        matches = hashlib.new(name, row.signature).digest() == imprint["hashed_message"].native
    except Exception:
        return f"the timestamp of seal {row.id} (over entry {row.seq}) cannot be read"
    if not matches:
        return f"the timestamp of seal {row.id} (over entry {row.seq}) does not cover its signature"
    return None


class _Walk:
    """Checks entries one by one in seq order and remembers the first problem."""

    def __init__(self, seals: list[AuditSeal], verifier: SealVerifier | None) -> None:
        self.count = 0
        self.last_seq = 0
        self.last_hash = GENESIS
        self.problem: str | None = None
        self.first_bad: int | None = None
        self.bad_seal: int | None = None
        self.verifier = verifier
        self.seals_at: dict[int, list[AuditSeal]] = {}
        for row in seals:
            self.seals_at.setdefault(row.seq, []).append(row)
        self.last_matching_seal = 0  # every entry up to here is vouched for by a seal

    def fail(self, first_bad: int | None, problem: str, bad_seal: int | None = None) -> None:
        self.first_bad, self.problem, self.bad_seal = first_bad, problem, bad_seal

    def feed(self, session: Session, row: Row[Any]) -> None:
        self.count += 1
        if self.problem is not None:
            return
        expected = self.last_seq + 1
        if row.seq > expected:
            self.fail(expected, f"entry {expected} is missing (deleted)")
            return
        if row.seq < expected:  # only a seq below 1 can come here: seqs are unique and ordered
            self.fail(row.seq, f"entry {row.seq} does not belong in the chain (it must start at 1)")
            return
        recomputed = _row_hash(row)
        if row.previous_hash != self.last_hash:
            later = audit_repo.later_seq_with_hash(session, row.previous_hash, row.seq)
            if later is not None:
                self.fail(row.seq, f"entries out of order at {row.seq}")
            elif recomputed == row.entry_hash and row.seq > 1:
                # Both entries hash correctly on their own but no longer link: one was rewritten and
                # its hash recomputed. The earlier one is the first that may be bad.
                self.fail(
                    row.seq - 1,
                    f"entry {row.seq - 1} was altered (entry {row.seq} no longer links to it)",
                )
            else:
                self.fail(row.seq, f"entry {row.seq} was altered")
            return
        if recomputed != row.entry_hash:
            self.fail(row.seq, f"entry {row.seq} was altered")
            return
        for seal_row in self.seals_at.get(row.seq, []):
            if seal_row.entry_hash == row.entry_hash:
                self.last_matching_seal = row.seq
                continue
            if self.verifier is not None and not _signature_ok(self.verifier, seal_row):
                self.fail(
                    None,
                    f"seal {seal_row.id} (over entry {seal_row.seq}) was altered: its signature fails",
                    seal_row.id,
                )
            else:
                self.fail(
                    self.last_matching_seal + 1,
                    f"history was rewritten between entries {self.last_matching_seal + 1} and {row.seq}: "
                    f"seal {seal_row.id} of {timestamp_text(seal_row.sealed_at)} signed entry {row.seq} as "
                    f"{seal_row.entry_hash[:16]}…, the chain now says {row.entry_hash[:16]}…",
                    seal_row.id,
                )
            return
        self.last_seq, self.last_hash = row.seq, row.entry_hash


def verify(session: Session, seal_verifier: SealVerifier | None = None) -> VerifyReport:
    """Walk the whole chain (streamed) and name the first entry that was altered, deleted or reordered.

    Checks, in seq order: continuity (1, 2, 3… — a gap is a deletion), the link to the previous hash,
    each recomputed hash, every seal over the entry; then that the head names the last entry (entries
    deleted at the end), that no seal names an entry beyond the end, each seal's signature (with
    ``seal_verifier(message, signature)`` when given) and each seal's timestamp imprint.
    """
    seals = list(audit_repo.seals(session, by_seq=True))
    walk = _Walk(seals, seal_verifier)
    after: int | None = None
    head_row: tuple[int, str] | None = None
    while True:
        progressed = False
        for row in _rows(session, after):
            walk.feed(session, row)
            after, progressed = row.seq, True
        # Read after the walk: an entry and the head move in one transaction, so a head newer than the
        # walk means appends committed meanwhile — read those too before comparing.
        current = session.get(AuditHead, HEAD_ID, populate_existing=True)
        head_row = (current.seq, current.entry_hash) if current is not None else None
        if head_row is None or after is None or head_row[0] <= after or not progressed:
            break

    notes: list[str] = []
    if walk.problem is None:
        _check_end(walk, head_row, seals)
    verified = 0
    if walk.problem is None:
        for seal_row in seals:
            if seal_verifier is not None:
                if not _signature_ok(seal_verifier, seal_row):
                    walk.fail(
                        None,
                        f"the signature of seal {seal_row.id} (over entry {seal_row.seq}) does not verify: "
                        "the seal was forged or altered",
                        seal_row.id,
                    )
                    break
                verified += 1
            problem = _timestamp_problem(seal_row)
            if problem is not None:
                walk.fail(None, problem, seal_row.id)
                break
    if seals and seal_verifier is None:
        notes.append("seal signatures were not checked (no verification key given)")
    if not seals and walk.count:
        notes.append("the chain has never been sealed: a rewrite with recomputed hashes would go unseen")
    elif seals and seals[-1].seq < walk.last_seq and walk.problem is None:
        notes.append(f"entries {seals[-1].seq + 1}..{walk.last_seq} are not sealed yet")
    head_seq, head_hash = head_row or (0, GENESIS)
    return VerifyReport(
        ok=walk.problem is None,
        entries=walk.count,
        first_bad_seq=walk.first_bad,
        problem=walk.problem,
        head_seq=head_seq,
        head_hash=head_hash,
        seals=len(seals),
        seals_verified=verified,
        signatures_checked=seal_verifier is not None,
        bad_seal=walk.bad_seal,
        notes=notes,
    )


def _check_end(walk: _Walk, head_row: tuple[int, str] | None, seals: list[AuditSeal]) -> None:
    last = walk.last_seq
    if head_row is None:
        if walk.count:
            walk.fail(None, f"the head row is missing (the chain ends at {last})")
        elif seals:
            walk.fail(1, f"the chain is empty but seal {seals[-1].id} names entry {seals[-1].seq}")
        return
    head_seq, head_hash = head_row
    if head_seq > last:
        walk.fail(
            last + 1, f"the chain ends at {last} but the head names {head_seq} (entries deleted at the end)"
        )
    elif head_seq < last:
        walk.fail(
            head_seq + 1,
            f"entries {head_seq + 1}..{last} follow the head (added without going through the audit log)",
        )
    elif head_hash != walk.last_hash:
        walk.fail(last, f"the head does not match entry {last} (the entry or the head was rewritten)")
    else:
        beyond = [s for s in seals if s.seq > last]
        if beyond:
            walk.fail(
                last + 1,
                f"seal {beyond[0].id} names entry {beyond[0].seq} but the chain ends at {last} "
                "(entries deleted at the end)",
                beyond[0].id,
            )


# --- seal ---------------------------------------------------------------------------------------------
def seal(
    session: Session,
    *,
    clock: Clock,
    sign: Callable[[bytes], bytes],
    signer_serial: str,
    timestamp: Callable[[bytes], bytes | None] | None = None,
) -> SealRecord:
    """Sign the current head (``kyso-audit-seal:<seq>:<entry_hash>``) and store the seal.

    ``sign`` signs bytes with the service key whose certificate has ``signer_serial``; ``timestamp``,
    when given, returns a DER RFC 3161 token (ContentInfo) over the signature. Raises CONFLICT when the
    log is empty or its head does not match the last entry.
    """
    head_seq, head_hash = current_head(session)
    if head_seq == 0:
        raise conflict("the audit log is empty: nothing to seal yet")
    last = session.get(AuditEntry, head_seq)
    if last is None or last.entry_hash != head_hash:
        raise conflict("the audit log's head does not match its last entry; run `kyso audit verify`")
    signature = sign(seal_message(head_seq, head_hash))
    token = timestamp(signature) if timestamp is not None else None
    row = AuditSeal(
        seq=head_seq,
        entry_hash=head_hash,
        sealed_at=as_utc(clock.now()),
        signature=signature,
        signer_certificate_serial=signer_serial,
        timestamp_token=token,
    )
    session.add(row)
    session.flush()
    return SealRecord.from_row(row)


def oldest_unsealed_at(session: Session) -> dt.datetime | None:
    """When the oldest entry no seal covers yet was written; None when every entry is sealed."""
    found = audit_repo.first_entry_time_after(session, audit_repo.last_sealed_seq(session))
    return as_utc(found) if found is not None else None


def list_seals(session: Session) -> list[SealRecord]:
    return [SealRecord.from_row(r) for r in audit_repo.seals(session)]
