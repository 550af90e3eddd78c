"""Logging in (OAuth2 password flow + TOTP code), browser sessions, logout, the second factor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import (
    CSRF_COOKIE,
    FORM_FIELD,
    SESSION_COOKIE,
    client_address,
    form_token_ok,
    presented_credential,
    require,
)
from api.deps import KysoDep, actor_of
from api.problems import problem
from api.ratelimit import login_limit
from core.errors import Kind, ServiceError, malformed
from identity import totp
from identity.accounts import AccountInfo, get
from identity.permissions import Permission
from identity.sessions import REFUSED, Principal, change_password, login
from services import accounts

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
Self = Annotated[Principal, Depends(require(Permission.SELF))]
# a session still on its one-time password may do only this: choose a new one, or log out
Changing = Annotated[Principal, Depends(require(Permission.SELF, during_password_change=True))]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    password_change_required: bool = Field(
        False, description="a one-time password: the token opens only POST /api/v1/auth/password"
    )


class SessionOut(BaseModel):
    csrf_token: str
    expires_in: int
    password_change_required: bool = False


class PasswordIn(BaseModel):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256, description="at least 12 characters")


class CodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=20)


def _login(request: Request, kyso: KysoDep, username: str, password: str, code: str | None, kind: str,
           new_password: str | None = None):  # fmt: skip
    box = request.app.state.kyso.secret_box
    with kyso.db.transaction() as session:
        outcome = login(
            session, kyso.clock, box, username=username, password=password,
            code=code, source=client_address(request), kind=kind, new_password=new_password or None,
        )  # fmt: skip
    return outcome  # committed either way: failures count towards the lock and are audited


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Log in: username, password and one-time code (rate-limited per client)",
    dependencies=[Depends(login_limit)],
)
def token(
    request: Request,
    kyso: KysoDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str | None, Form(alias="totp", max_length=20)] = None,
    new_password: Annotated[
        str | None, Form(max_length=256, description="replace the password in the same step (first login)")
    ] = None,
) -> JSONResponse | TokenOut:
    outcome = _login(request, kyso, username, password, totp_code, "bearer", new_password)
    if outcome.token is None:
        return problem(401, REFUSED, kind="unauthorized")
    return TokenOut(access_token=outcome.token, expires_in=outcome.expires_in,
                    password_change_required=outcome.must_change_password)  # fmt: skip


@router.post(
    "/session",
    response_model=SessionOut,
    summary="Log in a browser: sets HttpOnly session cookie (rate-limited per client)",
    dependencies=[Depends(login_limit)],
)
def browser_session(
    request: Request,
    response: Response,
    kyso: KysoDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str | None, Form(alias="totp", max_length=20)] = None,
    form_token: Annotated[str | None, Form(alias=FORM_FIELD, max_length=64)] = None,
) -> JSONResponse | SessionOut:
    if not form_token_ok(request, form_token):  # login CSRF: only the login page's own form logs in
        return problem(
            403, f"the login form has expired (no {FORM_FIELD} matching its cookie); reload the page",
            kind="forbidden",
        )  # fmt: skip
    outcome = _login(request, kyso, username, password, totp_code, "cookie")
    if outcome.token is None or outcome.csrf is None:
        return problem(401, REFUSED, kind="unauthorized")
    secure = kyso.settings.base_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        outcome.token,
        max_age=outcome.expires_in,
        httponly=True,
        secure=secure,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE, outcome.csrf, max_age=outcome.expires_in, secure=secure, samesite="strict"
    )
    return SessionOut(csrf_token=outcome.csrf, expires_in=outcome.expires_in,
                      password_change_required=outcome.must_change_password)  # fmt: skip


@router.post("/logout", status_code=204, summary="End this session or token at once")
def end_session(request: Request, kyso: KysoDep, principal: Changing) -> Response:
    accounts.logout(kyso, actor_of(request, principal), presented_credential(request))
    result = Response(status_code=204)
    result.delete_cookie(SESSION_COOKIE)
    result.delete_cookie(CSRF_COOKIE)
    return result


@router.post(
    "/password", status_code=204,
    summary="Change your password (current and new); required after a one-time password",
)  # fmt: skip
def change_own_password(body: PasswordIn, request: Request, kyso: KysoDep, principal: Changing) -> Response:
    with kyso.db.transaction() as session:
        changed = change_password(
            session, kyso.clock, principal.username, presented_credential(request),
            current=body.current_password, new=body.new_password, source=client_address(request),
        )  # fmt: skip
    if not changed:  # the wrong guess is counted (committed) before it is refused
        raise ServiceError(Kind.FORBIDDEN, "the current password is wrong; nothing was changed")
    return Response(status_code=204)


@router.get("/me", summary="Who am I, and what may I do")
def me(kyso: KysoDep, principal: Self) -> dict[str, object]:
    with kyso.db.reading() as session:
        info = AccountInfo.of(get(session, principal.username), kyso.clock.now())
    return {
        **info.as_json(),
        "permissions": sorted(p.value for p in principal.permissions),
        "via": principal.via,
    }


@router.post("/totp", summary="Start enrolling an authenticator app (returns the otpauth URI and a QR PNG)")
def enrol_totp(request: Request, kyso: KysoDep, principal: Self) -> dict[str, str]:
    enrolment = accounts.enrol_second_factor(kyso, actor_of(request, principal))
    return {"otpauth_uri": enrolment.uri, "qr_png_base64": enrolment.qr_png_base64()}


@router.post(
    "/totp/confirm", summary="Confirm with a first code; returns one-time recovery codes, shown once"
)
def confirm_totp(body: CodeIn, request: Request, kyso: KysoDep, principal: Self) -> dict[str, list[str]]:
    codes = accounts.confirm_second_factor(kyso, actor_of(request, principal), body.code)
    if codes is None:  # the wrong code is counted (committed) before it is refused
        raise malformed(totp.CODE_NOT_VALID)
    return {"recovery_codes": codes}


@router.get("/activity", summary="What happened to your account: logins, locks, resets (newest first)")
def activity(
    request: Request, kyso: KysoDep, principal: Self, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[dict[str, object]]:
    return [r.as_json() for r in accounts.activity(kyso, actor_of(request, principal), limit)]
