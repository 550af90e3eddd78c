"""`kyso sign IN.pdf -o OUT.pdf --cert SERIAL`: the operator signs a file with a certificate in custody.

Remote signers (officials, clerks, citizens) sign through the API with their own one-time code; this
command is the local operator's tool, and every signature it makes is in the audit log as theirs
(services.signing.sign_in_custody signs, registers and audits; this command parses and prints).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.common import JsonOption, cli_as_actor, err, handles_errors, print_json, resolve_serial, runtime
from core.clock import display
from core.errors import malformed


@handles_errors
def sign(
    source: Annotated[Path, typer.Argument(help="the PDF to sign", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the signed PDF")],
    cert: Annotated[
        str, typer.Option("--cert", help="serial (or unique prefix) of a signing certificate in custody")
    ],
    level: Annotated[str, typer.Option(help="PAdES level: b-b, b-t, b-lt or b-lta")] = "b-lt",
    appearance: Annotated[
        str, typer.Option(help="official (blue block), seal (red, over the official's), attachment")
    ] = "official",
    invisible: Annotated[bool, typer.Option("--invisible", help="no visible stamp")] = False,
    title: Annotated[str | None, typer.Option(help="the signer's position, e.g. 'Phó Chủ tịch'")] = None,
    reference_number: Annotated[str | None, typer.Option(help="document number, e.g. '123/QĐ-UBND'")] = None,
    certify: Annotated[
        bool, typer.Option("--certify", help="certification signature: later only form filling and signing")
    ] = False,
    page: Annotated[int, typer.Option(help="page for the stamp, 1-based; negative counts from the end")] = -1,
    force: Annotated[bool, typer.Option("--force", help="overwrite OUT if it exists")] = False,
    as_json: JsonOption = False,
) -> None:
    """Sign a PDF (PAdES B-B … B-LTA) with a key this service holds."""
    import asyncio

    from services import signing as signing_service
    from signing.pades import Level
    from signing.service import Appearance, DocumentIn, DocumentOut, SignRequest

    if not source.is_file():
        raise malformed(f"{source} is not a readable file")
    if output.exists() and not force:
        raise malformed(f"{output} exists; choose another name or pass --force")
    if output.resolve() == source.resolve():
        raise malformed("write the signed PDF to another file than the one being signed")
    request = SignRequest(
        level=Level.parse(level),
        appearance=Appearance.INVISIBLE if invisible else Appearance.parse(appearance),
        title=title,
        reference_number=reference_number,
        certify=certify,
        page=page - 1 if page > 0 else page,
    )
    rt = runtime()
    with rt.db.reading() as session:
        serial = resolve_serial(session, cert)

    def deliver(signed: DocumentOut) -> None:
        """All or nothing: the file appears complete, under its name, only as it is registered."""
        with tempfile.NamedTemporaryFile(dir=output.parent or ".", prefix=".kyso-", delete=False) as partial:
            shutil.copyfileobj(signed.output, partial)
        try:
            os.replace(partial.name, output)
        finally:
            if os.path.exists(partial.name):
                os.unlink(partial.name)

    with source.open("rb") as stream:
        work = signing_service.sign_in_custody(
            rt, cli_as_actor(), serial, DocumentIn(source.name, stream), request, deliver
        )
        signed, key = asyncio.run(work)
    result = {
        **signed.record.as_json(),
        "output": str(output),
        "verify_url": rt.signing.verify_url(signed.record.id),
    }
    if as_json:
        print_json(result)
        return
    err.print(
        f"signed {source.name} → {output} ({request.level.value.upper()}, {signed.record.size:,} bytes) by "
        f"{key.common_name} at {display(signed.record.signed_at)}\nverify: {result['verify_url']}"
    )
