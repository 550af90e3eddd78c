"""`kyso verify FILE.pdf [--json] [--trust ROOTS.pem]` and `kyso trust add|remove|list`.

Exit 0 only when the file has signatures and every one is TOTAL-PASSED; 1 otherwise (a report was still
printed); 2 for input that is not a readable PDF.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import Group, JsonOption, handles_errors, out, print_json, record, runtime
from core.clock import display
from core.errors import malformed

if TYPE_CHECKING:  # imported by the commands that use them: `kyso verify --help` needs none of them
    from sqlalchemy.orm import Session

    from services.root import Kyso
    from verification.report import IssuedRecord, VerificationReport
    from verification.validate import Limits

trust_app = typer.Typer(cls=Group, help="Trust anchors for verification (Kyso's own root is always trusted).",
                        no_args_is_help=True)  # fmt: skip


def own_roots(session: Session, rt: Kyso) -> list[bytes]:
    from cryptography.hazmat.primitives import serialization

    return [rt.ca.chain(session, "root")[-1].public_bytes(serialization.Encoding.DER)]


def issued_by_us(session: Session, sha256: str) -> list[IssuedRecord]:
    from signing import registry
    from verification.report import IssuedRecord

    return [
        IssuedRecord(r.id, r.signer_name, r.organization, r.reference_number, r.level, display(r.signed_at))
        for r in registry.find_by_hash(session, sha256)
    ]


def ocsp_fetcher(rt: Kyso):
    """The service's own responder, asked in-process (the CLI runs beside the database)."""
    from ca.ocsp import OcspResponder
    from core.ids import serial_hex

    responder = OcspResponder(rt.ca)

    def fetch(certificate, issuer) -> bytes | None:
        serial = serial_hex(certificate.serial_number)
        try:
            with rt.db.transaction() as session:
                return responder.produce_for(session, serial)
        except Exception:
            return None

    return fetch


def limits_of(rt: Kyso) -> Limits:
    from verification.validate import Limits

    s = rt.settings
    return Limits(max_bytes=s.verify_max_mb << 20, timeout_seconds=s.verify_timeout_seconds,
                  memory_bytes=s.verify_memory_mb << 20)  # fmt: skip


@handles_errors
def verify(
    source: Annotated[Path, typer.Argument(help="the signed PDF", show_default=False)],
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="PEM file of trust anchors to use instead of the instance's"),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option("--fetch-revocation/--no-fetch-revocation", help="ask this service's OCSP responder"),
    ] = False,
    html: Annotated[Path | None, typer.Option("--html", help="also write the report as an HTML page")] = None,
    pdf_report: Annotated[
        Path | None,
        typer.Option("--pdf-report", help="also write the report as a PDF sealed by this service (B-LT)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every signature of a PDF and print the report (Vietnamese and English)."""
    import asyncio

    from verification import anchors, render
    from verification.isolation import verify_bounded
    from verification.trust import TrustStore
    from verification.validate import Verifier

    if not source.is_file():
        raise malformed(f"{source} is not a readable file")
    data = source.read_bytes()
    rt = runtime()
    with rt.db.reading() as session:
        if trust is not None:
            if not trust.is_file():
                raise malformed(f"{trust} is not a readable file")
            store = TrustStore.from_pem(f"file:{trust.name}", trust.read_bytes())
        else:
            store = anchors.trust_list(session, own_roots(session, rt))
    fetcher = ocsp_fetcher(rt) if fetch or rt.settings.verify_fetch_revocation else None
    verifier = Verifier(store, limits=limits_of(rt), fetch_ocsp=fetcher, now=rt.ca.clock.now)
    report = verify_bounded(verifier, data) if fetcher is None else asyncio.run(verifier.verify(data))
    with rt.db.reading() as session:
        report = _with_registry(report, issued_by_us(session, report.sha256))
    if html is not None:
        html.write_text(render.html(report), encoding="utf-8")
    if pdf_report is not None:
        pdf_report.write_bytes(sealed_report(rt, report))
    if as_json:
        print_json(report.as_json())
    else:
        out.print(render.text(report), end="")
    raise typer.Exit(0 if report.all_passed else 1)


def sealed_report(rt: Kyso, report: VerificationReport) -> bytes:
    """The report as a PDF, sealed PAdES B-LT with the report-seal certificate (issued on first use)."""
    import asyncio
    import io

    from ca.hierarchy import report_seal
    from signing.pades import Level
    from signing.service import Appearance, DocumentIn, SignRequest
    from verification.pdf_report import report_pdf

    with rt.db.transaction() as session:
        serial = report_seal(session, rt.ca)
    service = rt.signing
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE, reason=SEAL_REASON)
    document = DocumentIn("verification-report.pdf", io.BytesIO(report_pdf(report)))
    [sealed] = asyncio.run(service.sign(service.keys.signing_key(serial), [document], request))
    return sealed.output.read()


SEAL_REASON = "Báo cáo kiểm tra chữ ký số / Signature verification report"


def _with_registry(report: VerificationReport, records: list[IssuedRecord]) -> VerificationReport:
    from dataclasses import replace

    return replace(report, issued_by_us=records)


@trust_app.command("add")
@handles_errors
def trust_add(
    label: Annotated[str, typer.Argument(help="a short name, e.g. national-root")],
    certificate: Annotated[Path, typer.Argument(help="the CA certificate (PEM or DER)")],
    as_json: JsonOption = False,
) -> None:
    """Trust another root (for example the national root) when verifying."""
    from verification import anchors

    if not certificate.is_file():
        raise malformed(f"{certificate} is not a readable file")
    rt = runtime()
    with rt.db.transaction() as session:
        info = anchors.add(session, label, certificate.read_bytes(), now=rt.ca.clock.now(), actor="cli")
        record(session, rt, "trust.add", info.fingerprint, label=info.label, subject=info.subject)
    print_json(info.__dict__) if as_json else out.print(f"trusted {info.label}: {info.subject}")


@trust_app.command("remove")
@handles_errors
def trust_remove(key: Annotated[str, typer.Argument(help="label or SHA-256 fingerprint")]) -> None:
    """Stop trusting an anchor an operator added."""
    from verification import anchors

    rt = runtime()
    with rt.db.transaction() as session:
        info = anchors.remove(session, key)
        record(session, rt, "trust.remove", info.fingerprint, label=info.label)
    out.print(f"removed {info.label}")


@trust_app.command("list")
@handles_errors
def trust_list(as_json: JsonOption = False) -> None:
    """The trust list verification uses: Kyso's root and the anchors operators added."""
    from verification import anchors

    rt = runtime()
    with rt.db.reading() as session:
        store = anchors.trust_list(session, own_roots(session, rt))
        added = anchors.listing(session)
    if as_json:
        print_json(
            {"name": store.name, "fingerprints": store.fingerprints, "added": [a.__dict__ for a in added]}
        )
        return
    out.print(f"trust list: {store.name}")
    for anchor in added:
        out.print(
            f"  {anchor.label}  {anchor.fingerprint[:16]}…  {anchor.subject}  (added {anchor.added_at})"
        )
