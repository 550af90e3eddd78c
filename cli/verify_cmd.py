"""`kyso verify FILE.pdf [--json] [--trust ROOTS.pem]`, `kyso trust add|remove|list` and
`kyso trust profile list|enable|disable`.

Exit 0 only when the file has signatures and every one is TOTAL-PASSED; 1 otherwise (a report was still
printed); 2 for input that is not a readable PDF.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Group, JsonOption, cli_as_actor, handles_errors, out, print_json, runtime
from core.errors import malformed

trust_app = typer.Typer(cls=Group, help="Trust anchors and trust profiles for verification.",
                        no_args_is_help=True)  # fmt: skip
profile_app = typer.Typer(cls=Group, help="Named trust profiles: kyso-test, vn-public, vn-gov, operator.",
                          no_args_is_help=True)  # fmt: skip
trust_app.add_typer(profile_app, name="profile")


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
    report_format: Annotated[
        str,
        typer.Option("--format", help="text, json, or xml (the ETSI TS 119 102-2 validation report)"),
    ] = "text",
) -> None:
    """Check every signature of a PDF and print the report (Vietnamese and English)."""
    import asyncio

    from services import verification
    from verification import render, words
    from verification.report import Indication
    from verification.trust import TrustStore

    if report_format not in ("text", "json", "xml"):
        raise malformed(f"--format is text, json or xml, not {report_format!r}")
    if as_json and report_format == "xml":
        raise malformed("--json and --format xml: choose one")
    if not source.is_file():
        raise malformed(f"{source} is not a readable file")
    data = source.read_bytes()
    store = None
    if trust is not None:
        if not trust.is_file():
            raise malformed(f"{trust} is not a readable file")
        store = TrustStore.from_pem(f"file:{trust.name}", trust.read_bytes())
    rt = runtime()
    fetch = fetch or rt.settings.verify_fetch_revocation
    report = verification.verify(rt, data, trust=store, fetch_revocation=fetch)
    if html is not None:
        html.write_text(render.html(report), encoding="utf-8")
    if pdf_report is not None:
        pdf_report.write_bytes(asyncio.run(verification.sealed_report(rt, report)))
    if report_format == "xml":
        from verification.etsi_report import xml_report

        sys.stdout.buffer.write(xml_report(report))
        sys.stdout.flush()
    elif as_json or report_format == "json":
        print_json(report.as_json())
    else:
        out.print(render.text(report), end="")
    # 0 only when every signature passed and the document was not changed after them (words.document_verdict)
    verdict, _ = words.document_verdict(report)
    raise typer.Exit(0 if report.all_passed and verdict is Indication.TOTAL_PASSED else 1)


@trust_app.command("add")
@handles_errors
def trust_add(
    label: Annotated[str, typer.Argument(help="a short name, e.g. national-root")],
    certificate: Annotated[Path, typer.Argument(help="the CA certificate (PEM or DER)")],
    as_json: JsonOption = False,
) -> None:
    """Trust another root (for example the national root) when verifying."""
    from services import verification

    if not certificate.is_file():
        raise malformed(f"{certificate} is not a readable file")
    info = verification.add_anchor(runtime(), cli_as_actor(), label, certificate.read_bytes())
    print_json(info.__dict__) if as_json else out.print(f"trusted {info.label}: {info.subject}")


@trust_app.command("remove")
@handles_errors
def trust_remove(key: Annotated[str, typer.Argument(help="label or SHA-256 fingerprint")]) -> None:
    """Stop trusting an anchor an operator added."""
    from services import verification

    info = verification.remove_anchor(runtime(), cli_as_actor(), key)
    out.print(f"removed {info.label}")


@trust_app.command("list")
@handles_errors
def trust_list(as_json: JsonOption = False) -> None:
    """The trust list verification uses: Kyso's root and the anchors operators added."""
    from services import verification

    listing = verification.anchors_listing(runtime())
    if as_json:
        print_json(listing.as_json())
        return
    out.print(f"trust list: {listing.name}")
    for anchor in listing.added:
        out.print(
            f"  {anchor.label}  {anchor.fingerprint[:16]}…  {anchor.subject}  (added {anchor.added_at})"
        )


ProfileName = Annotated[str, typer.Argument(help="kyso-test, vn-public, vn-gov or operator")]


@profile_app.command("list")
@handles_errors
def profile_list(as_json: JsonOption = False) -> None:
    """Every trust profile, whether it is on, and its anchors with their SHA-256 fingerprints."""
    from services import verification

    listing = verification.profiles_listing(runtime())
    if as_json:
        print_json([p.as_json() for p in listing])
        return
    for p in listing:
        state = "on " if p.enabled else "off"
        since = f" (since {p.changed_at}, {p.changed_by})" if p.changed_at else " (default)"
        out.print(f"[{state}] {p.name}: {p.title}{since}")
        for anchor in p.anchors:
            out.print(f"       {anchor.role:<12} {anchor.fingerprint}  {anchor.subject}")


@profile_app.command("enable")
@handles_errors
def profile_enable(name: ProfileName) -> None:
    """Trust a profile's anchors when verifying."""
    _switch(name, True)


@profile_app.command("disable")
@handles_errors
def profile_disable(name: ProfileName) -> None:
    """Stop trusting a profile's anchors."""
    _switch(name, False)


def _switch(name: str, enabled: bool) -> None:
    from services import verification

    info = verification.set_profile(runtime(), cli_as_actor(), name, enabled)
    state = "on" if info.enabled else "off"
    out.print(f"trust profile {info.name}: {state} ({len(info.anchors)} certificates)")
