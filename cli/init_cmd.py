"""`kyso init`: data directory, master key (development), schema, CA hierarchy, operator token."""

from __future__ import annotations

from typing import Annotated

import typer

from ca.hierarchy import initialise
from ca.runtime import is_loopback_url
from cli.common import handles_errors, out, print_json, runtime, settings
from store.migrate import upgrade


@handles_errors
def init(
    ca_key_algorithm: Annotated[
        str | None,
        typer.Option(help="CA key algorithm: ec-p384 (default), rsa-3072 or rsa-4096; KYSO_CA_KEY_ALGORITHM"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Create the schema, the test CA hierarchy and the operator token. Running it again changes nothing."""
    config = settings()
    rt = runtime(create_master_key=True, check=False)
    if rt.settings.production and is_loopback_url(rt.settings.resolved_pki_base_url):
        rt.check_ready()  # refuses: a loopback URL must never reach a production CA certificate
    upgrade(rt.db)
    with rt.db.transaction() as session:
        report = initialise(session, rt.ca, ca_key_algorithm or config.ca_key_algorithm)
    rt.check_ready()  # and the master key unwraps the root key of an existing hierarchy
    token_existed = config.operator_token_value() is not None
    config.operator_token_value(create=True)
    token_path = config.data_dir / "operator.token"
    if json_output:
        print_json(
            {
                "created": report.created,
                "authorities": report.authorities,
                "service_signers": report.service_signers,
                "database": rt.db.engine.url.render_as_string(hide_password=True),
                "operator_token_file": None if config.operator_token else str(token_path),
            }
        )
        return
    verb = "created" if report.created else "already present, left unchanged"
    out.print(f"CA hierarchy {verb}: {', '.join(report.authorities)}")
    out.print(f"service signers: {', '.join(report.service_signers)}")
    out.print(f"database: {rt.db.engine.url.render_as_string(hide_password=True)}")
    if not config.operator_token and not token_existed:
        out.print(f"operator API token written to {token_path} (mode 0600)")
