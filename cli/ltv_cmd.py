"""`kyso ltv FILE.pdf -o OUT.pdf`: extend a signed PDF for the long term (validation data, a document
timestamp); `kyso archive-renew DIR`: renew the document timestamps of an archive of B-LTA PDFs.
services.ltv does the work and writes the audit entries; these commands parse and print."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonOption, cli_as_actor, err, handles_errors, out, print_json, runtime
from core.errors import malformed

MAX_INPUT = 256 << 20


@handles_errors
def ltv(
    source: Annotated[Path, typer.Argument(help="a signed PDF", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the extended PDF")],
    level: Annotated[str, typer.Option(help="the level to reach: b-t, b-lt or b-lta")] = "b-lta",
    force: Annotated[bool, typer.Option("--force", help="overwrite OUT if it exists")] = False,
    as_json: JsonOption = False,
) -> None:
    """Extend a signed PDF for the long term (B-T, B-LT, B-LTA).

    A document timestamp for signatures without one (B-T), the validation data of every signature
    (B-LT), and a document timestamp over it all (B-LTA), as incremental updates: signatures stay intact.
    """
    from services import ltv as ltv_service
    from signing.pades import Level

    if not source.is_file():
        raise malformed(f"{source} is not a readable file")
    if source.stat().st_size > MAX_INPUT:
        raise malformed(f"{source} is larger than {MAX_INPUT >> 20} MiB")
    if output.exists() and not force:
        raise malformed(f"{output} exists; choose another name or pass --force")
    if output.resolve() == source.resolve():
        raise malformed("write the extended PDF to another file than the one being extended")
    target = Level.parse(level)
    extended = ltv_service.extend_document(runtime(), cli_as_actor(), source.read_bytes(), target)
    _write_atomically(output, extended.pdf)
    if as_json:
        print_json({**extended.as_json(), "output": str(output)})
        return
    err.print(
        f"{source.name}: {extended.level_before.value.upper()} → {extended.level_after.value.upper()} "
        f"({', '.join(s.value for s in extended.steps) or 'nothing to add'}) → {output}"
    )
    for signature in extended.signatures:
        if signature.problem:
            err.print(f"  {signature.field} ({signature.signer}): {signature.problem}")


@handles_errors
def archive_renew(
    directory: Annotated[Path, typer.Argument(help="a directory of archived B-LTA PDFs", show_default=False)],
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="renew when the timestamp's certificate expires within DAYS")
    ] = 90,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say which files are due")] = False,
    as_json: JsonOption = False,
) -> None:
    """Renew the document timestamps of archived B-LTA PDFs that are due.

    A file is due when its last document timestamp's certificate expires within --days (90) or its digest or
    key is weak. Files are replaced atomically. The worker does this daily when KYSO_ARCHIVE_DIR is set.
    """
    import datetime as dt

    from services import ltv as ltv_service

    results = ltv_service.renew_archive(
        runtime(), cli_as_actor(), directory, dry_run=dry_run, renew_before=dt.timedelta(days=days)
    )
    if as_json:
        print_json([r.as_json() for r in results])
    else:
        for result in results:
            mark = "renewed" if result.renewed else ("error" if result.error else "kept")
            out.print(f"{mark:8} {result.path}: {result.reason}")
        renewed = sum(r.renewed for r in results)
        err.print(f"{len(results)} file(s), {renewed} renewed")
    if any(r.error for r in results):
        raise typer.Exit(1)


def _write_atomically(output: Path, data: bytes) -> None:
    handle, partial = tempfile.mkstemp(dir=output.parent or ".", prefix=".kyso-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
