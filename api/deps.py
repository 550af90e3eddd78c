"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import client_address
from identity.sessions import Principal
from services.audit import Actor
from services.root import Kyso


def get_kyso(request: Request) -> Kyso:
    return request.app.state.kyso


KysoDep = Annotated[Kyso, Depends(get_kyso)]


def actor_of(request: Request | None, principal: Principal | None) -> Actor:
    """Who the audit log names for a request: the caller (or "system"), from the client's address."""
    source = client_address(request) if request is not None else None
    if principal is None:
        return Actor("system", source)
    return Actor(principal.username, source, principal.account_id, principal.role)
