"""Who did something, and the one way a use case writes that it was done.

Every use case in services/ takes an ``Actor`` and writes its audit entry itself, in the transaction of
the action, so an entry exists exactly when its action does. The shells only say who is acting: the API
from the caller and the client address (``api.deps.actor_of``), the CLI as the local operating-system
user (``cli.common.cli_as_actor``), background jobs as ``Actor.SYSTEM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from identity import audit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from services.root import Kyso


@dataclass(frozen=True)
class Actor:
    name: str  # an account's username, "cli:<os user>", or "system"
    source: str | None = None  # the client's IP address, "cli", or None for background work
    account_id: int | None = None  # the account acting, when there is one
    role: str | None = None

    SYSTEM: ClassVar[Actor]


Actor.SYSTEM = Actor("system")


def record(
    session: Session,
    kyso: Kyso,
    actor: Actor,
    action: str,
    target: str | None,
    outcome: str = "success",
    **details: object,
) -> audit.AuditRecord:
    """Append the entry for ``action`` on ``target`` by ``actor`` in the caller's transaction."""
    return audit.append(
        session,
        clock=kyso.clock,
        actor=actor.name,
        action=action,
        target=target,
        outcome=outcome,
        source=actor.source,
        details=details or None,
    )
