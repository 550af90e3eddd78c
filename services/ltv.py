"""Extending signed PDFs for the long term, as a records office does: ``kyso ltv``,
``POST /api/v1/documents/extend`` and the archive job (``kyso archive-renew``, the worker's
``archive-renew`` job when ``KYSO_ARCHIVE_DIR`` is set).

The validation data is what this service can vouch for — OCSP responses and CRLs of its own CAs, and its
own TSA's certificate for the timestamps it adds (``signing.extend``). Each extension and each renewal is
in the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ServiceError, malformed
from services.audit import Actor, record

if TYPE_CHECKING:
    from ca.signing_keys import ValidationData
    from ca.tsa_pyhanko import InProcessTimeStamper
    from services.root import Kyso
    from signing.extend import Extended
    from signing.pades import Level

MAX_ARCHIVE_FILE = 64 << 20  # a larger file in the archive is reported, not read


def material_for(kyso: Kyso, data: bytes) -> ValidationData:
    """Fresh OCSP responses for every end-entity certificate in ``data`` that this service issued
    (signers, TSAs), its own TSA's included, and every CA's current CRL."""
    from ca.signing_keys import validation_data
    from core.ids import serial_hex
    from signing.extend import embedded_certificates
    from store import repositories
    from store.models import ServiceSigner

    certificates = embedded_certificates(data)
    with kyso.db.transaction() as session:
        ours = []
        for certificate in certificates:
            if certificate.ca:  # CA certificates have their status in the parent's CRL
                continue
            serial = serial_hex(certificate.serial_number)
            row = repositories.certificate_by_serial(session, serial)
            if row is not None and row.der == certificate.dump():
                ours.append(serial)
        tsa = session.get(ServiceSigner, "tsa")
        if tsa is not None and tsa.certificate_serial not in ours:
            ours.append(tsa.certificate_serial)
        return validation_data(session, kyso.ca, ours)


def _timestamper(kyso: Kyso) -> InProcessTimeStamper:
    from ca.tsa_pyhanko import InProcessTimeStamper

    return InProcessTimeStamper(kyso.timestamp_authority, kyso.db)


def extend_document(kyso: Kyso, actor: Actor, data: bytes, level: Level) -> Extended:
    """``data`` with validation data and, for B-LTA, a document timestamp (``signing.extend.extend``)."""
    from signing.extend import extend

    extended = asyncio.run(extend(data, level, material_for(kyso, data), _timestamper(kyso)))
    with kyso.db.transaction() as session:
        record(
            session, kyso, actor, "document.extend", hashlib.sha256(extended.pdf).hexdigest(),
            input_sha256=hashlib.sha256(data).hexdigest(), level_before=extended.level_before.value,
            level_after=extended.level_after.value, steps=[s.value for s in extended.steps],
        )  # fmt: skip
    return extended


@dataclass(frozen=True)
class ArchiveFile:
    path: str
    renewed: bool
    reason: str  # why it was renewed, why not, or what went wrong
    error: bool = False

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "renewed": self.renewed, "reason": self.reason, "error": self.error}


def renew_archive(
    kyso: Kyso,
    actor: Actor,
    directory: Path,
    *,
    dry_run: bool = False,
    renew_before: dt.timedelta | None = None,
) -> list[ArchiveFile]:
    """Lay a new document timestamp over every B-LTA PDF under ``directory`` whose last one is due
    (``signing.extend.renewal_due``). A renewed file replaces the old one atomically (written beside
    it, flushed, renamed), so a kill at any moment leaves either the old file or the new one; a file
    renewed already is not due again, so a rerun picks up where a stopped one ended."""
    from signing.extend import RENEW_BEFORE, renew, renewal_due

    if not directory.is_dir():
        raise malformed(f"{directory} is not a directory")
    results = []
    for path in sorted(directory.rglob("*.pdf")):
        if not path.is_file():
            continue
        if path.stat().st_size > MAX_ARCHIVE_FILE:
            results.append(ArchiveFile(str(path), False, "larger than 64 MiB: not read", error=True))
            continue
        data = path.read_bytes()
        try:
            check = renewal_due(data, kyso.clock.now(), renew_before or RENEW_BEFORE)
            if not check.due or dry_run:
                results.append(ArchiveFile(str(path), False, check.reason))
                continue
            renewed = asyncio.run(renew(data, material_for(kyso, data), _timestamper(kyso)))
        except ServiceError as error:
            results.append(ArchiveFile(str(path), False, error.message, error=True))
            continue
        _replace(path, renewed)
        with kyso.db.transaction() as session:
            record(
                session, kyso, actor, "archive.renew", hashlib.sha256(renewed).hexdigest(), path=str(path),
                input_sha256=hashlib.sha256(data).hexdigest(), reason=check.reason,
            )  # fmt: skip
        results.append(ArchiveFile(str(path), True, check.reason))
    return results


def _replace(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".renewing")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
