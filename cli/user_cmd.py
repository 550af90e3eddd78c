"""`kyso user …`: accounts and second factors. The CLI acts as the local operator ("cli" in the audit log)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    Group,
    JsonOption,
    cli_as_actor,
    handles_errors,
    out,
    print_json,
    read_secret_file,
    resolve_serial,
    runtime,
)
from identity.permissions import ROLES

if TYPE_CHECKING:
    from identity import totp

app = typer.Typer(cls=Group, help="Accounts, roles, passwords, second factors and API keys.")


def _show_enrolment(enrolment: totp.Enrolment, png: Path | None) -> None:
    out.print("Scan this with an authenticator app (or enter the URI):")
    out.print(enrolment.qr_terminal())
    out.print(enrolment.uri)
    if png:
        png.write_bytes(enrolment.qr_png())
        out.print(f"QR code written to {png}")


@app.command("add")
@handles_errors
def add(
    username: Annotated[str | None, typer.Argument(help="login name; citizens default to their CCCD")] = None,
    role: Annotated[str, typer.Option(help=" | ".join(ROLES))] = "official",
    display_name: Annotated[str, typer.Option(help="full name with diacritics")] = "",
    cccd: Annotated[str | None, typer.Option(help="12-digit CCCD (citizens; signers)")] = None,
    venue: Annotated[str | None, typer.Option(help="the venue of a desk account")] = None,
    password_file: Annotated[Path | None, typer.Option(help="file whose first line is the password")] = None,
    with_totp: Annotated[bool, typer.Option("--totp/--no-totp", help="enrol a second factor now")] = True,
    qr_png: Annotated[Path | None, typer.Option(help="also write the TOTP QR code as PNG here")] = None,
    json_output: JsonOption = False,
) -> None:
    """Create an account. Without --password-file a one-time password is printed once."""
    from services import administration

    password = read_secret_file(password_file) if password_file else None
    new = administration.create_account(
        runtime(), cli_as_actor(), username=username, role=role, display_name=display_name, cccd=cccd,
        venue=venue, password=password, enrol_second_factor=with_totp,
    )  # fmt: skip
    info, enrolment = new.info, new.enrolment
    if json_output:
        print_json({**info.as_json(), "one_time_password": new.one_time_password,
                    "otpauth_uri": enrolment.uri if enrolment else None})  # fmt: skip
        return
    out.print(f"account {info.username} ({info.role}) created")
    if new.one_time_password:
        out.print(f"one-time password: {new.one_time_password}")
    if enrolment:
        _show_enrolment(enrolment, qr_png)


@app.command("list")
@handles_errors
def list_users(
    role: Annotated[str | None, typer.Option(help="only this role")] = None, json_output: JsonOption = False
) -> None:
    """List accounts."""
    from rich.table import Table

    from services import administration

    infos = administration.list_accounts(runtime(), role)
    if json_output:
        print_json([i.as_json() for i in infos])
        return
    table = Table("username", "role", "name", "2FA", "state")
    for i in infos:
        state = "disabled" if i.disabled else ("locked" if i.locked else "active")
        table.add_row(i.username, i.role, i.display_name, "yes" if i.second_factor else "no", state)
    out.print(table)


@app.command("disable")
@handles_errors
def disable(
    username: str, enable: Annotated[bool, typer.Option("--enable", help="enable instead")] = False
) -> None:
    """Disable an account (its sessions end at once), or --enable it again."""
    from services import administration

    administration.set_enabled(runtime(), cli_as_actor(), username, enable)
    out.print(f"account {username} {'enabled' if enable else 'disabled'}")


@app.command("role")
@handles_errors
def role(username: str, new_role: Annotated[str, typer.Argument(help=" | ".join(ROLES))]) -> None:
    """Change an account's role; its sessions end."""
    from services import administration

    administration.set_role(runtime(), cli_as_actor(), username, new_role)
    out.print(f"account {username} is now {new_role}")


@app.command("reset-password")
@handles_errors
def reset_password(
    username: str,
    password_file: Annotated[
        Path | None, typer.Option(help="file whose first line is the new password")
    ] = None,
) -> None:
    """Set a new password (a one-time one is printed when no file is given); sessions end, the lock lifts."""
    from services import administration

    password = read_secret_file(password_file) if password_file else None
    generated = administration.reset_password(runtime(), cli_as_actor(), username, password=password)
    out.print(f"password of {username} reset" + (f"; one-time password: {generated}" if generated else ""))


@app.command("totp")
@handles_errors
def reset_totp(
    username: str,
    qr_png: Annotated[Path | None, typer.Option(help="also write the QR code as PNG here")] = None,
) -> None:
    """Start a new second-factor enrolment for an account (replaces the old one; lifts a code lock)."""
    from services import administration

    enrolment = administration.reset_second_factor(runtime(), cli_as_actor(), username)
    _show_enrolment(enrolment, qr_png)


@app.command("unlock")
@handles_errors
def unlock(username: str) -> None:
    """Reopen login and code entry of a locked account (after 100 wrong codes only an admin can)."""
    from services import administration

    administration.unlock(runtime(), cli_as_actor(), username)
    out.print(f"account {username} unlocked")


@app.command("api-key")
@handles_errors
def api_key(
    username: Annotated[str, typer.Argument(help="a service account")],
    scope: Annotated[list[str], typer.Option("--scope", help="a permission, e.g. certificates:read; repeat")],
    name: Annotated[str, typer.Option(help="what the key is for")] = "integration",
    json_output: JsonOption = False,
) -> None:
    """Create an API key for a service account; the key is printed once."""
    from services import administration

    key = administration.new_api_key(runtime(), cli_as_actor(), username, name, scope)
    if json_output:
        print_json({"id": key.id, "key": key.key, "prefix": key.prefix, "scopes": key.scopes})
    else:
        out.print(f"API key {key.prefix} ({', '.join(key.scopes)}): {key.key}")
        out.print("store it now: Kyso keeps only its hash")


@app.command("bind-cert")
@handles_errors
def bind_cert(
    username: str,
    serial: Annotated[
        str,
        typer.Argument(
            help="a citizen, official or agency-seal certificate in custody: its serial or a unique prefix"
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Let an account sign (or seal) through the API with a certificate whose key the service holds."""
    from services import signing as signing_service

    rt = runtime()
    with rt.db.reading() as session:
        full_serial = resolve_serial(session, serial)
    bound = signing_service.bind_credential(rt, cli_as_actor(), username, full_serial)
    if as_json:
        print_json({"id": bound.id, "username": username, "certificate_serial": bound.certificate_serial,
                    "purpose": bound.purpose})  # fmt: skip
        return
    out.print(f"{username} may now {bound.purpose} with certificate {bound.certificate_serial} ({bound.id})")
