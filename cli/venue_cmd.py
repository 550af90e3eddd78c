"""`kyso venue …`: the buildings guests are invited to, and their security desks."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import Group, JsonOption, cli_as_actor, handles_errors, out, print_json, runtime

app = typer.Typer(cls=Group, help="Venues (offices, buildings) and their security desks.")


@app.command("add")
@handles_errors
def add(
    code: Annotated[str, typer.Argument(help="a short code, e.g. UBND-BT")],
    name: Annotated[str, typer.Option(help='the name people read, e.g. "UBND Phường Bến Thành"')],
    address: Annotated[str | None, typer.Option(help="street address (shown in invitation emails)")] = None,
    desk: Annotated[
        list[str] | None, typer.Option("--desk", help="a desk or gate code; repeat for several")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Add a venue with its desks (desk codes are unique across venues)."""
    from services import invitations

    added = invitations.add_venue(runtime(), cli_as_actor(), code, name, address=address, desks=desk or [])
    if json_output:
        print_json(added.as_json())
        return
    out.print(
        f"venue {added.code} ({added.name}) added; desks: {', '.join(d.code for d in added.desks) or 'none'}"
    )


@app.command("add-desk")
@handles_errors
def add_desk(
    venue: Annotated[str, typer.Argument(help="the venue code")],
    code: Annotated[str, typer.Argument(help="the new desk's code")],
    name: Annotated[str | None, typer.Option(help='its name, e.g. "Cổng 2"')] = None,
) -> None:
    """Add a desk to a venue."""
    from services import invitations

    added = invitations.add_desk(runtime(), cli_as_actor(), venue, code, name)
    out.print(f"desk {added.code} added to {venue}")


@app.command("list")
@handles_errors
def list_venues(json_output: JsonOption = False) -> None:
    """Venues and their desks."""
    from invitations import venues

    rt = runtime()
    with rt.db.reading() as session:
        found = venues.all_venues(session)
    if json_output:
        print_json([v.as_json() for v in found])
        return
    for venue in found:
        out.print(f"{venue.code}\t{venue.name}\tdesks: {', '.join(d.code for d in venue.desks) or '-'}")
