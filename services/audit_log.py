"""The audit log for auditors and operators: verify the hash chain, read and export it, seal its head.

identity/audit.py keeps the chain (append, walk, seal) and knows no keys; this module hands it the one
key that seals it — the TSA's delegated key (``services.root.AUDIT_SEAL_SIGNER``), unwrapped by the
master key, so a database administrator cannot re-sign a rewritten history — and the TSA that
timestamps each seal. `kyso audit …` (cli/audit_cmd.py) and /api/v1/audit (api/routers/audit.py) call
these functions; the background worker (services/worker.py) runs ``seal_if_due``.

None of them writes an audit entry of its own (reading and sealing the log are not actions on it), so
they take no ``Actor``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING, TextIO

from ca import service_signers
from core.errors import ServiceError
from core.ids import serial_hex
from identity import audit
from services.root import AUDIT_SEAL_SIGNER

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso


def seal_verifier(session: Session, kyso: Kyso) -> audit.SealVerifier | None:
    """Checks seal signatures with the public half of the key the master key unwraps (not a key read from
    a table anyone with database access could replace). None when the instance has no TSA signer."""
    try:
        return service_signers.load(session, kyso.ca, AUDIT_SEAL_SIGNER).signer.verify
    except ServiceError:
        return None


def verify(kyso: Kyso) -> audit.VerifyReport:
    """Walk the whole chain and check every seal; the report names the first entry altered, deleted or
    reordered, or the first seal that does not hold."""
    with kyso.db.reading() as session:
        return audit.verify(session, seal_verifier(session, kyso))


def entries(kyso: Kyso, after: int | None = None, limit: int | None = None) -> list[audit.AuditRecord]:
    """Entries in seq order after ``after`` (from the first when None), at most ``limit`` of them."""
    found: list[audit.AuditRecord] = []
    if limit is not None and limit <= 0:
        return found
    with kyso.db.reading() as session:
        for record in audit.entries(session, after):
            found.append(record)
            if limit is not None and len(found) >= limit:
                break
    return found


def search(
    kyso: Kyso,
    *,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[audit.AuditRecord]:
    """Entries newest first, filtered as the operator console asks (identity.audit.search)."""
    with kyso.db.reading() as session:
        return audit.search(session, action=action, actor=actor, target=target, before=before, limit=limit)


def export(kyso: Kyso, out: TextIO) -> int:
    """Write every entry, hashes included, as one JSON object per line; how many were written."""
    with kyso.db.reading() as session:
        return audit.export(session, out)


def seal_head(kyso: Kyso) -> audit.SealRecord:
    """Sign the chain's head with the TSA's key and timestamp the signature, in one transaction.

    CONFLICT when the log is empty or its head does not match its last entry; UNAVAILABLE when the
    instance has no TSA key (from service_signers).
    """
    with kyso.db.transaction() as session:
        delegated = service_signers.load(session, kyso.ca, AUDIT_SEAL_SIGNER)
        tsa = kyso.timestamp_authority

        def timestamp(data: bytes) -> bytes:
            digest = hashlib.sha256(data).digest()
            return tsa.timestamp(digest, "sha256", secrets.randbits(63), True, session).dump()

        return audit.seal(
            session,
            clock=kyso.clock,
            sign=delegated.signer.sign,
            signer_serial=serial_hex(delegated.certificate.serial_number),
            timestamp=timestamp,
        )


def seal_if_due(kyso: Kyso, every: dt.timedelta) -> audit.SealRecord | None:
    """Seal the head once the oldest entry not yet under a seal is ``every`` old: what the worker runs,
    deciding from the database alone, so every runner agrees and a quiet log is not sealed again."""
    with kyso.db.reading() as session:
        oldest_unsealed = audit.oldest_unsealed_at(session)
    if oldest_unsealed is None or kyso.clock.now() - oldest_unsealed < every:
        return None
    return seal_head(kyso)
