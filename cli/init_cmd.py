"""`kyso init`: data directory, master key (development), schema, CA hierarchy, operator token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import handles_errors, out, print_json, runtime, settings

if TYPE_CHECKING:
    from services.root import Kyso


@handles_errors
def init(
    ca_key_algorithm: Annotated[
        str | None,
        typer.Option(help="CA key algorithm: ec-p384 (default), rsa-3072 or rsa-4096; KYSO_CA_KEY_ALGORITHM"),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Create the schema, the test CA hierarchy and the first admin. Running it again changes nothing."""
    from ca.hierarchy import initialise
    from ca.runtime import is_loopback_url
    from store.migrate import upgrade

    config = settings()
    rt = runtime(create_master_key=True, check=False)
    if rt.settings.production and is_loopback_url(rt.settings.resolved_pki_base_url):
        rt.check_ready()  # refuses: a loopback URL must never reach a production CA certificate
    upgrade(rt.db)
    with rt.db.transaction() as session:
        report = initialise(session, rt.ca, ca_key_algorithm or config.ca_key_algorithm)
    rt.check_ready()  # and the master key unwraps the root key of an existing hierarchy
    admin = _first_admin(rt)
    if json_output:
        print_json(
            {
                "created": report.created,
                "authorities": report.authorities,
                "service_signers": report.service_signers,
                "database": rt.db.engine.url.render_as_string(hide_password=True),
                "first_admin": admin,
            }
        )
        return
    verb = "created" if report.created else "already present, left unchanged"
    out.print(f"CA hierarchy {verb}: {', '.join(report.authorities)}")
    out.print(f"service signers: {', '.join(report.service_signers)}")
    out.print(f"database: {rt.db.engine.url.render_as_string(hide_password=True)}")
    if admin:
        out.print(f"first admin account: {admin['username']}")
        out.print(f"one-time password (shown once): {admin['one_time_password']}")
        out.print("second factor: scan this with an authenticator app; the first login confirms it")
        out.print(admin["qr"])
        out.print(admin["otpauth_uri"])


FIRST_ADMIN = "admin"


def _first_admin(rt: Kyso) -> dict[str, str] | None:
    """The first admin, with a one-time password and a TOTP enrolment, when no admin exists yet."""
    from identity import accounts, totp

    with rt.db.transaction() as session:
        if accounts.list_accounts(session, "admin"):
            return None
        new = accounts.create(
            session, rt.clock, username=FIRST_ADMIN, role="admin", display_name="Quản trị viên",
            actor="kyso init",
        )  # fmt: skip
        enrolment = totp.enrol(session, rt.secret_box, new.account)
    return {
        "username": FIRST_ADMIN,
        "one_time_password": new.one_time_password or "",
        "otpauth_uri": enrolment.uri,
        "qr": enrolment.qr_terminal(),
    }
