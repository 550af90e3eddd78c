"""`kyso approvals …`: what waits for approval (N of M), approving or rejecting it, and the policies.

The CLI votes as the local operator (``cli:<os user>`` in the audit log); that name cannot approve a
request it filed itself (say, with `kyso ca revoke`), as no requester can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import Group, JsonOption, cli_as_actor, handles_errors, out, print_json, runtime
from core.clock import display

if TYPE_CHECKING:
    from services.approvals import Approval

app = typer.Typer(cls=Group, help="Approvals (N of M): list what waits, approve or reject it, set policies.")
Comment = Annotated[str, typer.Option("--comment", "-m", max=500, help="why (kept in the audit log)")]


def _line(approval: Approval) -> str:
    waits = (
        f", waits for {approval.waiting_for} more until {display(approval.expires_at)}"
        if approval.waiting_for
        else ""
    )
    votes = "".join(
        f"; {label} by {', '.join(names)}"
        for label, names in (("approved", approval.approved_by), ("rejected", approval.rejected_by))
        if names
    )
    return (
        f"#{approval.id} {approval.status}: {approval.action} {approval.target} {approval.params} "
        f"asked by {approval.requested_by}{waits}{votes}"
    )


@app.command("list")
@handles_errors
def list_requests(
    every: Annotated[bool, typer.Option("--all", help="decided ones too, not only pending")] = False,
    json_output: JsonOption = False,
) -> None:
    """Requests newest first: what each waits for, and who approved or rejected it."""
    from services import approvals

    found = approvals.listing(runtime(), None if every else "pending")
    if json_output:
        print_json([a.as_json() for a in found])
        return
    if not found:
        out.print("nothing waits for approval" if not every else "no approval requests")
    for approval in found:
        out.print(_line(approval), markup=False)


@app.command("approve")
@handles_errors
def approve(request_id: int, comment: Comment = "") -> None:
    """Approve a request; the last approval it needs runs the action."""
    from services import approvals

    out.print(_line(approvals.approve(runtime(), cli_as_actor(), request_id, comment)), markup=False)


@app.command("reject")
@handles_errors
def reject(request_id: int, comment: Comment = "") -> None:
    """Reject a request (the requester's own rejection withdraws it); one rejection ends it."""
    from services import approvals

    out.print(_line(approvals.reject(runtime(), cli_as_actor(), request_id, comment)), markup=False)


@app.command("policy")
@handles_errors
def policy(
    action: Annotated[
        str | None, typer.Argument(help="certificate.revoke | account.grant-role | trust.change")
    ] = None,
    required: Annotated[int | None, typer.Argument(help="approvals by others (0: none)")] = None,
    hours: Annotated[int, typer.Option("--hours", help="how long a request waits before it expires")] = 24,
) -> None:
    """Show the policies, or set how many approvals ACTION needs."""
    from services import approvals

    kyso = runtime()
    if action is not None:
        if required is None:
            raise typer.BadParameter("give the number of approvals REQUIRED too")
        approvals.set_policy(kyso, cli_as_actor(), action, required, hours)
    for row in approvals.policies(kyso):
        out.print(
            f"{row['action']}: {row['required']} approval(s), requests expire after {row['lifetime_hours']} h"
        )
