"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ca.runtime import CaRuntime


def get_runtime(request: Request) -> CaRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[CaRuntime, Depends(get_runtime)]
