"""Dependencies shared by the routers."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ca.runtime import CaRuntime
from core.errors import Kind, ServiceError


def get_runtime(request: Request) -> CaRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[CaRuntime, Depends(get_runtime)]

_bearer = HTTPBearer(auto_error=False)


# ---------------------------------------------------------------------------------------------------
# TEMPORARY AUTHORISATION — replaced by the accounts issue (identity/, roles and permissions).
# Until then every operator route depends on this one function and nothing else: a single bearer
# token, created by `kyso init` in <data dir>/operator.token (or KYSO_OPERATOR_TOKEN), stands for
# "the CA operator". No route is open by omission.
# ---------------------------------------------------------------------------------------------------
def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    expected: str | None = request.app.state.operator_token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ServiceError(Kind.UNAUTHORIZED, "this route needs the operator's bearer token")
    if not expected or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise ServiceError(Kind.UNAUTHORIZED, "the bearer token is not valid")


OperatorDep = Depends(require_operator)
