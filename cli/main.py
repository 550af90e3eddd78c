"""The `kyso` command."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import audit_cmd, ca_cmd, invite_cmd, user_cmd, venue_cmd
from cli.common import Group, route_library_logs
from cli.init_cmd import init
from cli.serve_cmd import serve
from cli.sign_cmd import sign
from cli.verify_cmd import trust_app, verify

app = typer.Typer(
    cls=Group,
    name="kyso",
    help="Kyso — digital signatures and e-authentication for a city government.\n\n"
    "KYSO_DATA_DIR (default ./var) and KYSO_DATABASE_URL select the instance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="print library log lines and warnings on stderr")
    ] = False,
) -> None:
    ctx.call_on_close(route_library_logs(verbose))


app.command("init")(init)
app.command("serve")(serve)
app.command("sign")(sign)
app.command("verify")(verify)
app.add_typer(trust_app, name="trust")
app.add_typer(ca_cmd.app, name="ca")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(user_cmd.app, name="user")
app.add_typer(invite_cmd.app, name="invite")
app.add_typer(venue_cmd.app, name="venue")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
