"""`kyso audit …`: check the audit hash chain, export it, seal its head.

The commands call services.audit_log and print what it returns. Seals are signed with the TSA's
delegated key (whose private key only the master key unwraps, so a database administrator cannot
re-sign a rewritten history) and timestamped by the TSA.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import Group, JsonOption, err, handles_errors, out, print_json, runtime
from core.clock import display
from core.errors import malformed

if TYPE_CHECKING:
    from identity import audit

app = typer.Typer(cls=Group, help="Audit log: verify the hash chain, export it as JSON lines, seal its head.")


@app.command("verify")
@handles_errors
def verify(json_output: JsonOption = False) -> None:
    """Walk the chain; exit 0 if intact, 1 naming the first entry altered, deleted or reordered."""
    from services import audit_log

    rt = runtime()
    try:
        report = audit_log.verify(rt)
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
    from services import audit_log

    rt = runtime()
    try:
        if output is None:
            audit_log.export(rt, sys.stdout)
            sys.stdout.flush()
            return
        try:
            with output.open("w", encoding="utf-8") as handle:
                count = audit_log.export(rt, handle)
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
    from services import audit_log

    rt = runtime()
    try:
        record = audit_log.seal_head(rt)
    finally:
        rt.db.dispose()
    if json_output:
        print_json(_seal_json(record))
        return
    out.print(f"sealed entry {record.seq} ({record.entry_hash}) at {display(record.sealed_at)}")
    out.print(f"signed by certificate {record.signer_certificate_serial}, timestamped by the TSA")
