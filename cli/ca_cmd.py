"""`kyso ca …`: the operator's commands for the certificate authority.

The commands parse their options, call services.certificates as the local operator
(cli.common.cli_as_actor) and print what it returns; the service writes the audit entries. A serial
may be given as a unique prefix: it is resolved here first (cli.common.resolve_serial).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ca.revocation_reasons import REVOCATION_REASON_NAMES
from cli.common import (
    Group,
    JsonOption,
    cli_as_actor,
    confirm_or_refuse,
    err,
    handles_errors,
    out,
    print_json,
    resolve_serial,
    runtime,
)
from core.clock import display
from core.errors import malformed

if TYPE_CHECKING:  # the domain modules are imported by the commands that use them (`kyso --help` stays fast)
    from ca.issuance import Issued
    from ca.records import CertificateInfo
    from services.root import Kyso


app = typer.Typer(
    cls=Group, help="Certificate authority: issue, list, revoke, suspend, renew, bulk enrolment."
)

KeygenOption = Annotated[
    str | None, typer.Option(help="generate the key in the service: ec-p256 | ec-p384 | rsa-2048 | rsa-3072")
]
CsrOption = Annotated[Path | None, typer.Option(help="PKCS#10 request (PEM or DER) holding the public key")]
P12Option = Annotated[
    Path | None, typer.Option("--p12", help="deliver the generated key once, in this PKCS#12")
]
P12PasswordOption = Annotated[
    Path | None, typer.Option("--p12-password-file", help="file whose first line is the PKCS#12 password")
]
SerialArgument = Annotated[
    str, typer.Argument(help="the serial or a unique prefix of it (4+ hex digits)", show_default=False)
]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="write the certificate (PEM) here")]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise malformed(f"cannot read the {what} {path}: {exc.strerror}") from None


def _password(path: Path | None) -> str | None:
    if path is None:
        return None
    lines = _read(path, "password file").decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _short(info: CertificateInfo) -> dict[str, object]:
    return {
        "serial": info.serial,
        "subject": info.subject,
        "not_after": info.not_after.isoformat(),
        "certificate_pem": info.certificate_pem,
        "profile": info.profile,
        "status": info.status,
        "issuer": info.issuer,
        "key_in_custody": info.key_in_custody,
    }


def _describe(info: CertificateInfo) -> None:
    out.print(f"serial      {info.serial}")
    out.print(f"profile     {info.profile} (issued by the {info.issuer} CA)")
    out.print(f"subject     {info.subject}")
    out.print(f"status      {info.status}")
    out.print(f"valid       {display(info.not_before)} → {display(info.not_after)}")
    holder = "held by Kyso" if info.key_in_custody else "held by the subject"
    out.print(f"key         {info.key_algorithm}, {holder}")
    if info.revoked_at:
        out.print(f"revoked     {display(info.revoked_at)} ({info.revocation_reason})")
    if info.renewed_from:
        out.print(f"renews      {info.renewed_from}")


def _deliver(issued: Issued, out_path: Path | None, p12_path: Path | None, json_output: bool) -> None:
    info = issued.certificate
    if out_path:
        out_path.write_text(info.certificate_pem)
    if p12_path and issued.pkcs12:
        _write_private(p12_path, issued.pkcs12)
    if json_output:
        print_json(_short(info))
        return
    _describe(info)
    if out_path:
        out.print(f"certificate written to {out_path}")
    if p12_path and issued.pkcs12:
        out.print(
            f"key and certificate written to {p12_path} (PKCS#12, mode 0600); Kyso keeps no copy of the key"
        )


def _check_key_options(
    csr: Path | None, keygen: str | None, p12: Path | None, p12_password_file: Path | None
) -> None:
    if csr and (keygen or p12):
        raise malformed("--csr cannot be combined with --keygen or --p12: the key is the requester's")
    if p12 and not p12_password_file:
        raise malformed("--p12 needs --p12-password-file")


def _key_source(
    csr: Path | None, keygen: str | None, p12: Path | None, p12_password_file: Path | None
) -> tuple[bytes | None, str | None, str, str | None]:
    _check_key_options(csr, keygen, p12, p12_password_file)
    password = _password(p12_password_file) if p12 else None
    return (
        _read(csr, "CSR") if csr else None,
        None if csr else (keygen or "ec-p256"),
        "pkcs12" if p12 else "custody",
        password,
    )


@app.command("issue")
@handles_errors
def issue(
    profile: Annotated[str, typer.Argument(help="citizen | official | agency-seal")],
    name: Annotated[str | None, typer.Option(help="full name with diacritics (CN)")] = None,
    surname: Annotated[str | None, typer.Option(help="surname (họ)")] = None,
    given_name: Annotated[str | None, typer.Option(help="given name (tên đệm và tên)")] = None,
    cccd: Annotated[str | None, typer.Option(help="12-digit citizen identity number")] = None,
    organization: Annotated[str | None, typer.Option(help="organisation (O)")] = None,
    unit: Annotated[str | None, typer.Option(help="organisational unit (OU)")] = None,
    title: Annotated[str | None, typer.Option(help="job title")] = None,
    tax_code: Annotated[str | None, typer.Option(help="tax code (MST) of an organisation")] = None,
    province: Annotated[str | None, typer.Option(help="province or city (ST)")] = None,
    locality: Annotated[str | None, typer.Option(help="ward or commune (L)")] = None,
    keygen: KeygenOption = None,
    csr: CsrOption = None,
    p12: P12Option = None,
    p12_password_file: P12PasswordOption = None,
    out_path: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Issue a citizen, official or agency-seal certificate (key generated in custody unless --csr/--p12)."""
    from ca.issuance import IssueRequest
    from ca.subjects import SubjectFields
    from services import certificates

    csr_bytes, algorithm, delivery, password = _key_source(csr, keygen, p12, p12_password_file)
    request = IssueRequest(
        profile=profile,
        subject=SubjectFields(
            common_name=name,
            surname=surname,
            given_name=given_name,
            cccd=cccd,
            organization=organization,
            organizational_unit=unit,
            title=title,
            tax_code=tax_code,
            province=province,
            locality=locality,
        ),
        csr=csr_bytes,
        keygen=algorithm,
        delivery=delivery,  # type: ignore[arg-type]
        pkcs12_password=password,
    )
    issued = certificates.issue(runtime(), cli_as_actor(), request)
    _deliver(issued, out_path, p12, json_output)


@app.command("list")
@handles_errors
def list_certificates(
    serial: Annotated[str | None, typer.Option(help="serial or its leading hex digits")] = None,
    cccd: Annotated[str | None, typer.Option(help="citizen identity number")] = None,
    tax_code: Annotated[str | None, typer.Option(help="organisation tax code")] = None,
    name: Annotated[str | None, typer.Option(help="part of the name or organisation")] = None,
    status: Annotated[str | None, typer.Option(help="valid | suspended | revoked | expired")] = None,
    profile: Annotated[str | None, typer.Option(help="citizen | official | agency-seal | …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOption = False,
) -> None:
    """List and search certificates, newest first."""
    from rich import box
    from rich.table import Table

    from services import certificates

    items, total = certificates.search(
        runtime(),
        serial=serial,
        cccd=cccd,
        tax_code=tax_code,
        name=name,
        status=status,
        profile=profile,
        limit=limit,
        offset=offset,
    )
    if json_output:
        print_json({"total": total, "items": [i.as_json() for i in items]})
        return
    # narrow borders and padding, the expiry as a date: room for the rest beside the serial at 80 columns
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    # the whole serial, never cut (it is what the other commands take): the other columns wrap instead
    widest = max((len(info.serial) for info in items), default=6)
    table.add_column("serial", no_wrap=True, overflow="fold", min_width=widest)
    table.add_column("profile", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("not after", no_wrap=True)
    for info in items:
        table.add_row(info.serial, info.profile, info.status, info.common_name, display(info.not_after)[:10])
    out.print(table)
    out.print(f"{len(items)} of {total} shown")


@app.command("show")
@handles_errors
def show(
    serial: SerialArgument,
    pem: Annotated[bool, typer.Option("--pem", help="print only the certificate in PEM")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show one certificate."""
    from services import certificates

    rt = runtime()
    info = certificates.show(rt, _resolve(rt, serial))
    if json_output:
        print_json(info.as_json())
    elif pem:
        out.print(info.certificate_pem, end="")
    else:
        _describe(info)


@app.command("revoke")
@handles_errors
def revoke(
    serial: SerialArgument,
    reason: Annotated[str, typer.Option(help=" | ".join(REVOCATION_REASON_NAMES))] = "unspecified",
    invalidity_date: Annotated[
        dt.datetime | None, typer.Option(help="when the key is known or suspected to have been compromised")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    json_output: JsonOption = False,
) -> None:
    """Revoke a certificate for good, with an RFC 5280 reason. Asks first, unless --yes."""
    from services import certificates

    if invalidity_date is not None and invalidity_date.tzinfo is None:
        invalidity_date = invalidity_date.replace(tzinfo=dt.UTC)
    rt = runtime()
    info = certificates.show(rt, _resolve(rt, serial))
    # an unknown reason or an already revoked certificate is refused below, without asking first
    if not yes and info.status != "revoked" and reason in REVOCATION_REASON_NAMES:
        confirm_or_refuse(
            f"Revoke certificate {info.serial} ({info.subject}) for good, reason {reason}?", "the revocation"
        )
    revoked = certificates.revoke(rt, cli_as_actor(), info.serial, reason, invalidity_date)
    _changed(revoked, json_output, "revoked")


@app.command("suspend")
@handles_errors
def suspend(serial: SerialArgument, json_output: JsonOption = False) -> None:
    """Suspend a certificate (certificateHold); `reinstate` lifts it."""
    from services import certificates

    rt = runtime()
    _changed(certificates.suspend(rt, cli_as_actor(), _resolve(rt, serial)), json_output, "suspended")


@app.command("reinstate")
@handles_errors
def reinstate(serial: SerialArgument, json_output: JsonOption = False) -> None:
    """Lift a suspension. Revoked or expired certificates can never be reinstated."""
    from services import certificates

    rt = runtime()
    _changed(certificates.reinstate(rt, cli_as_actor(), _resolve(rt, serial)), json_output, "reinstated")


def _resolve(rt: Kyso, serial: str) -> str:
    """The full serial a typed serial or unique prefix names (NOT_FOUND / MALFORMED otherwise)."""
    with rt.db.reading() as session:
        return resolve_serial(session, serial)


def _changed(info: CertificateInfo, json_output: bool, verb: str) -> None:
    if json_output:
        print_json(info.as_json())
    else:
        out.print(f"certificate {info.serial} {verb}")


@app.command("renew")
@handles_errors
def renew(
    serial: SerialArgument,
    keygen: KeygenOption = None,
    csr: CsrOption = None,
    p12: P12Option = None,
    p12_password_file: P12PasswordOption = None,
    out_path: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Re-key: a new certificate and key for the same subject; the old certificate is revoked (superseded)."""
    from services import certificates

    _check_key_options(csr, keygen, p12, p12_password_file)
    rt = runtime()
    issued = certificates.renew(
        rt,
        cli_as_actor(),
        _resolve(rt, serial),
        csr=_read(csr, "CSR") if csr else None,
        keygen=keygen,
        pkcs12_password=_password(p12_password_file) if p12 else None,
    )
    _deliver(issued, out_path, p12, json_output)


@app.command("authorities")
@handles_errors
def list_authorities(json_output: JsonOption = False) -> None:
    """The CA hierarchy."""
    from rich.table import Table

    from ca import authorities

    rt = runtime()
    with rt.db.reading() as session:
        infos = authorities.list_authorities(session)
    if json_output:
        print_json(
            [{**info.__dict__, "not_before": info.not_before, "not_after": info.not_after} for info in infos]
        )
        return
    table = Table("id", "parent", "subject", "key", "not after")
    for a in infos:
        table.add_row(a.id, a.parent or "—", a.subject, a.key_algorithm, display(a.not_after))
    out.print(table)


@app.command("chain")
@handles_errors
def chain(
    ca: Annotated[str, typer.Option("--ca", help="root | citizen | government")] = "root",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """PEM certificates: that CA first, then its parents up to the root."""
    from ca import authorities

    rt = runtime()
    with rt.db.reading() as session:
        pem = authorities.chain_pem(rt.ca, session, ca)
    if output:
        output.write_text(pem)
        err.print(f"chain of the {ca} CA written to {output}")
    else:
        out.print(pem, end="")


@app.command("bulk-issue")
@handles_errors
def bulk_issue(
    file: Annotated[
        Path, typer.Argument(help="CSV: cccd,surname,given_name[,common_name,province,locality,keygen,csr]")
    ],
    results: Annotated[
        Path | None, typer.Option(help="per-row result CSV (default FILE.results.csv)")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes (default: CPU count)")] = None,
    json_output: JsonOption = False,
) -> None:
    """Enrol many citizens at once. Resumable: run the same file again to finish an interrupted run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ca import bulk
    from services import certificates

    rt = runtime()
    source = bulk.read_csv(file)
    done = certificates.start_bulk_run(rt, source)
    if done and not json_output:
        out.print(f"resuming: {len(done)} of {len(source.rows)} rows were already done")
    pending = len(source.rows) - len(done)
    counts = {"issued": 0, "failed": 0, "skipped": 0}
    progress = Progress(
        TextColumn("issuing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=json_output or not err.is_terminal,
    )
    with progress:
        task = progress.add_task("issue", total=pending)
        for outcome in certificates.bulk_issue(
            rt, cli_as_actor(), source, done, workers=workers or (os.cpu_count() or 1)
        ):
            counts[outcome.outcome] += 1
            progress.advance(task)
    results_path = results or file.with_name(file.stem + ".results.csv")
    totals = certificates.finish_bulk_run(rt, source, results_path)
    if json_output:
        print_json({"run": source.run_id, "this_run": counts, "totals": totals, "results": str(results_path)})
    else:
        out.print(
            f"{counts['issued']} issued, {counts['failed']} failed in this run; "
            f"{totals['issued']} issued and {totals['failed']} failed of {totals['total']} rows in all"
        )
        out.print(f"per-row results in {results_path}")
    if totals["failed"]:
        raise typer.Exit(1)


@app.command("crl")
@handles_errors
def write_crl(
    ca: Annotated[str, typer.Option("--ca", help="root | citizen | government")] = "citizen",
    output: Annotated[Path, typer.Option("--output", "-o", help="where to write the CRL (DER)")] = Path(
        "ca.crl"
    ),
    json_output: JsonOption = False,
) -> None:
    """Publish a fresh CRL for a CA (the service also does it on every revocation) and write it as DER."""
    from ca import crl

    rt = runtime()
    with rt.db.transaction() as session:
        info = crl.publish(session, rt.ca, ca)
    output.write_bytes(info.der)
    summary = {
        "ca": ca,
        "crl_number": info.crl_number,
        "this_update": info.this_update.isoformat(),
        "next_update": info.next_update.isoformat(),
        "entries": info.entries,
        "file": str(output),
    }
    if json_output:
        print_json(summary)
    else:
        out.print(
            f"CRL #{info.crl_number} of the {ca} CA, {info.entries} entries, next update "
            f"{display(info.next_update)}, written to {output}"
        )


@app.command("status")
@handles_errors
def certificate_status(serial: SerialArgument, json_output: JsonOption = False) -> None:
    """A certificate's current status, and the CRL and OCSP URLs relying parties check."""
    from ca import status

    rt = runtime()
    with rt.db.reading() as session:
        current = status.certificate_status(session, rt.ca, resolve_serial(session, serial))
    if json_output:
        print_json(current.as_json())
        return
    out.print(f"serial   {current.serial}")
    out.print(f"status   {current.status}")
    if current.revoked_at:
        out.print(f"since    {display(current.revoked_at)} ({current.revocation_reason})")
    out.print(f"CRL      {current.crl_url}")
    out.print(f"OCSP     {current.ocsp_url or '— (CRL only)'}")
