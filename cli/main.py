"""The `kyso` command."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
import typer.main
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # Typer vendors Click
from typer.core import TyperGroup

from cli.common import Group, route_library_logs
from cli.init_cmd import init
from cli.ltv_cmd import archive_renew, ltv
from cli.serve_cmd import serve
from cli.sign_cmd import sign
from cli.verify_cmd import verify
from cli.worker_cmd import worker

# The command groups, in the order `kyso --help` lists them: (module, Typer app).
GROUPS = {
    "trust": ("cli.verify_cmd", "trust_app"),
    "ca": ("cli.ca_cmd", "app"),
    "audit": ("cli.audit_cmd", "app"),
    "approvals": ("cli.approvals_cmd", "app"),
    "user": ("cli.user_cmd", "app"),
    "invite": ("cli.invite_cmd", "app"),
    "venue": ("cli.venue_cmd", "app"),
}


def group_app(name: str) -> typer.Typer:
    module, attribute = GROUPS[name]
    return getattr(importlib.import_module(module), attribute)


class Root(Group):
    """`kyso`: a group builds its commands (Typer reads every command's signature, ~1.5 ms each) only
    when it is run or its own help is asked for; `kyso --help` lists each with its help line alone."""

    listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [*super().list_commands(ctx), *(name for name in GROUPS if name not in self.commands)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in GROUPS:
            return command
        sub = group_app(cmd_name)
        if self.listing:  # a stand-in with the name and help line is all the listing shows
            return TyperGroup(name=cmd_name, help=sub.info.help)
        built = typer.main.get_group(sub)
        built.name = cmd_name
        self.commands[cmd_name] = built
        return built

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """A usage error is one line on stderr and exit 2, as every other refusal of the CLI is; Typer
        would draw a boxed panel under a usage block."""
        kwargs["standalone_mode"] = False
        try:
            outcome = super().main(*args, **kwargs)
        except ClickException as error:
            sys.exit(_refuse(error))
        except typer.Abort:
            typer.echo("kyso: aborted", err=True)
            sys.exit(1)
        sys.exit(outcome if isinstance(outcome, int) else 0)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:  # type: ignore[override]
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


def _refuse(error: ClickException) -> int:
    if isinstance(error, NoArgsIsHelpError):  # `kyso` or `kyso ca` alone: the help (drawn already by Rich)
        if message := error.format_message().strip():
            typer.echo(message, err=True)
        return error.exit_code
    context = getattr(error, "ctx", None)
    where = context.command_path if context is not None else "kyso"
    hint = f" (see '{where} -h')" if isinstance(error, UsageError) else ""
    typer.echo(f"{where}: {error.format_message()}{hint}", err=True)
    return error.exit_code


app = typer.Typer(
    cls=Root,
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
app.command("ltv")(ltv)
app.command("archive-renew")(archive_renew)
app.command("worker")(worker)
# the groups (GROUPS) are added by Root when used


def main() -> None:
    app()


if __name__ == "__main__":
    main()
