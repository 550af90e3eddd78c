"""`kyso audit …`: check the audit hash chain, export it, seal its head.

Seals are signed with the TSA's delegated key (whose private key only the master key unwraps, so a
database administrator cannot re-sign a rewritten history) and timestamped by the TSA.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import Group, JsonOption, err, handles_errors, out, print_json, runtime
from core.clock import display
from core.errors import ServiceError, malformed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from identity import audit
    from services.root import Kyso

app = typer.Typer(cls=Group, help="Audit log: verify the hash chain, export it as JSON lines, seal its head.")


def _seal_verifier(session: Session, rt: Kyso) -> audit.SealVerifier | None:
    """Verifies seal signatures with the public half of the key the master key unwraps (not a key read
    from a table anyone with database access could replace). None when the instance has no TSA signer."""
    from ca import service_signers
    from services.root import AUDIT_SEAL_SIGNER

    try:
        return service_signers.load(session, rt.ca, AUDIT_SEAL_SIGNER).signer.verify
    except ServiceError:
        return None


@app.command("verify")
@handles_errors
def verify(json_output: JsonOption = False) -> None:
    """Walk the chain; exit 0 if intact, 1 naming the first entry altered, deleted or reordered."""
    from identity import audit

    rt = runtime()
    try:
        with rt.db.reading() as session:
            report = audit.verify(session, _seal_verifier(session, rt))
    finally:
        rt.db.dispose()
    if json_output:
        print_json(report.as_json())
    elif report.ok:
        sealed = ""
        if report.seals:
            checked = "verified" if report.signatures_checked else "not checked"
            sealed = f", {report.seals} seal(s), signatures {checked}"
        out.print(f"audit chain intact: {report.entries} entries{sealed}")
    else:
        out.print(f"audit chain BROKEN: {report.problem}")
    if not json_output:
        for note in report.notes:
            err.print(f"note: {note}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("export")
@handles_errors
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of standard output")
    ] = None,
) -> None:
    """Write every entry, hashes included, as one JSON object per line."""
    from identity import audit

    rt = runtime()
    try:
        with rt.db.reading() as session:
            if output is None:
                audit.export(session, sys.stdout)
                sys.stdout.flush()
                return
            try:
                with output.open("w", encoding="utf-8") as handle:
                    count = audit.export(session, handle)
            except OSError as exc:
                raise malformed(f"cannot write {output}: {exc.strerror}") from None
    finally:
        rt.db.dispose()
    err.print(f"{count} entries written to {output}", markup=False)


def _seal_json(record: audit.SealRecord) -> dict[str, Any]:
    token = record.timestamp_token
    return {
        "id": record.id,
        "seq": record.seq,
        "entry_hash": record.entry_hash,
        "sealed_at": record.sealed_at.isoformat(),
        "signer_certificate_serial": record.signer_certificate_serial,
        "signature": base64.b64encode(record.signature).decode("ascii"),
        "timestamp_token": base64.b64encode(token).decode("ascii") if token else None,
    }


@app.command("seal")
@handles_errors
def seal(json_output: JsonOption = False) -> None:
    """Sign the chain head with the service key and timestamp it (run periodically, e.g. from cron)."""
    import hashlib
    import secrets

    from ca import service_signers
    from core.ids import serial_hex
    from identity import audit
    from services.root import AUDIT_SEAL_SIGNER

    rt = runtime()
    try:
        with rt.db.transaction() as session:
            delegated = service_signers.load(session, rt.ca, AUDIT_SEAL_SIGNER)
            tsa = rt.timestamp_authority

            def timestamp(data: bytes) -> bytes:
                digest = hashlib.sha256(data).digest()
                return tsa.timestamp(digest, "sha256", secrets.randbits(63), True, session).dump()

            record = audit.seal(
                session,
                clock=rt.ca.clock,
                sign=delegated.signer.sign,
                signer_serial=serial_hex(delegated.certificate.serial_number),
                timestamp=timestamp,
            )
    finally:
        rt.db.dispose()
    if json_output:
        print_json(_seal_json(record))
        return
    out.print(f"sealed entry {record.seq} ({record.entry_hash}) at {display(record.sealed_at)}")
    out.print(f"signed by certificate {record.signer_certificate_serial}, timestamped by the TSA")
