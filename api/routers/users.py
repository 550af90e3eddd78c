"""Accounts and API keys, for admins."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import client_address, require
from api.deps import RuntimeDep
from api.inputs import ApiKeyId
from core.errors import Kind, ServiceError
from identity import accounts
from identity.permissions import ROLES, Permission
from identity.sessions import Principal, create_api_key, reauthenticate, revoke_api_key
from store import identity_repo

router = APIRouter(prefix="/api/v1", tags=["users"])
Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
KeyAdmin = Annotated[Principal, Depends(require(Permission.API_KEYS_MANAGE))]
Role = Literal["admin", "ca-operator", "official", "clerk", "desk", "citizen", "service"]
assert set(Role.__args__) == set(ROLES)  # type: ignore[attr-defined]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(None, max_length=64, description="citizens default to their CCCD")
    role: Role
    display_name: str = Field("", max_length=200)
    cccd: str | None = Field(None, max_length=12)
    venue: str | None = Field(None, max_length=40)


class RoleIn(BaseModel):
    role: Role


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=64)
    name: str = Field(max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)


@router.post("/users", status_code=201, summary="Create an account (a one-time password is returned once)")
def create_user(body: UserIn, runtime: RuntimeDep, principal: Admin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        new = accounts.create(
            session, runtime.ca.clock, username=body.username, role=body.role, display_name=body.display_name,
            cccd=body.cccd, venue=body.venue, actor=principal.username,
        )  # fmt: skip
        info = accounts.AccountInfo.of(new.account, runtime.ca.clock.now())
    return {**info.as_json(), "one_time_password": new.one_time_password}


@router.get("/users", summary="List accounts")
def list_users(runtime: RuntimeDep, principal: Admin, role: Role | None = None) -> list[dict[str, object]]:
    with runtime.db.reading() as session:
        now = runtime.ca.clock.now()
        return [accounts.AccountInfo.of(a, now).as_json() for a in accounts.list_accounts(session, role)]


@router.post("/users/{username}/disable", summary="Disable an account; its sessions end at once")
def disable_user(username: str, runtime: RuntimeDep, principal: Admin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        account = accounts.disable(session, runtime.ca.clock, username, actor=principal.username)
        return accounts.AccountInfo.of(account, runtime.ca.clock.now()).as_json()


@router.post("/users/{username}/enable", summary="Enable a disabled account")
def enable_user(username: str, runtime: RuntimeDep, principal: Admin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        account = accounts.disable(
            session, runtime.ca.clock, username, actor=principal.username, enabled=True
        )
        return accounts.AccountInfo.of(account, runtime.ca.clock.now()).as_json()


@router.post("/users/{username}/role", summary="Change an account's role")
def change_role(username: str, body: RoleIn, runtime: RuntimeDep, principal: Admin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        account = accounts.set_role(session, runtime.ca.clock, username, body.role, actor=principal.username)
        return accounts.AccountInfo.of(account, runtime.ca.clock.now()).as_json()


class ReauthIn(BaseModel):
    current_password: str | None = Field(
        None, max_length=256, description="required when admins reset their own password or second factor"
    )


Reauth = Annotated[ReauthIn | None, Body()]
OWN_RESET = (
    "to reset your own password or second factor, confirm with your current password "
    '({"current_password": "…"}); to choose a new password use POST /api/v1/auth/password'
)


def _confirmed(session, runtime, request: Request, principal: Principal, username: str, body) -> bool:
    """An admin acting on their own account proves their password again (a stolen session alone must
    not replace the factors that protect it); wrong guesses count towards the lock."""
    if username.strip().lower() != principal.username:
        return True
    return reauthenticate(
        session, runtime.ca.clock, accounts.get(session, username), body.current_password if body else None,
        where="account.reset-own", source=client_address(request),
    )  # fmt: skip


@router.post("/users/{username}/reset-password", summary="Set a new one-time password (returned once)")
def reset_password(
    username: str, request: Request, runtime: RuntimeDep, principal: Admin, body: Reauth = None
) -> dict[str, str | None]:
    password = None
    with runtime.db.transaction() as session:
        if confirmed := _confirmed(session, runtime, request, principal, username, body):
            password = accounts.reset_password(session, runtime.ca.clock, username, actor=principal.username)
    if not confirmed:  # a wrong password is counted (committed) before it is refused
        raise ServiceError(Kind.FORBIDDEN, OWN_RESET)
    return {"one_time_password": password}


@router.post("/users/{username}/totp", summary="Reset an account's second factor and start a new enrolment")
def reset_totp(
    username: str, request: Request, runtime: RuntimeDep, principal: Admin, body: Reauth = None
) -> dict[str, str]:
    enrolment = None
    with runtime.db.transaction() as session:
        if _confirmed(session, runtime, request, principal, username, body):
            enrolment = accounts.reset_second_factor(
                session, runtime.ca.clock, request.app.state.kyso.secret_box, username,
                actor=principal.username, source=client_address(request),
            )  # fmt: skip
    if enrolment is None:
        raise ServiceError(Kind.FORBIDDEN, OWN_RESET)
    return {"otpauth_uri": enrolment.uri, "qr_png_base64": enrolment.qr_png_base64()}


@router.post("/users/{username}/unlock", summary="Reopen login and code entry of a locked account")
def unlock_user(username: str, runtime: RuntimeDep, principal: Admin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        account = accounts.unlock(session, runtime.ca.clock, username, actor=principal.username)
        return accounts.AccountInfo.of(account, runtime.ca.clock.now()).as_json()


@router.post("/api-keys", status_code=201, summary="Create an API key for a service account (shown once)")
def new_api_key(body: ApiKeyIn, runtime: RuntimeDep, principal: KeyAdmin) -> dict[str, object]:
    with runtime.db.transaction() as session:
        key = create_api_key(
            session, runtime.ca.clock, body.username, body.name, body.scopes, actor=principal.username
        )
    return {"id": key.id, "key": key.key, "prefix": key.prefix, "scopes": key.scopes}


@router.get("/api-keys", summary="List API keys (never the keys themselves)")
def list_api_keys(runtime: RuntimeDep, principal: KeyAdmin) -> list[dict[str, object]]:
    with runtime.db.reading() as session:
        rows = identity_repo.api_keys(session)
        return [
            {"id": r.id, "name": r.name, "prefix": r.prefix, "scopes": json.loads(r.scopes),
             "created_at": r.created_at, "last_used_at": r.last_used_at, "revoked_at": r.revoked_at}
            for r in rows
        ]  # fmt: skip


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
def delete_api_key(key_id: ApiKeyId, runtime: RuntimeDep, principal: KeyAdmin) -> None:
    with runtime.db.transaction() as session:
        revoke_api_key(session, runtime.ca.clock, key_id, actor=principal.username)
