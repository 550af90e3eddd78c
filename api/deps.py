"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ca.runtime import CaRuntime
from services.root import Kyso


def get_kyso(request: Request) -> Kyso:
    return request.app.state.kyso


KysoDep = Annotated[Kyso, Depends(get_kyso)]


def get_runtime(request: Request) -> CaRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[CaRuntime, Depends(get_runtime)]
