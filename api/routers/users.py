"""Accounts and API keys, for admins."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require
from api.deps import KysoDep, actor_of
from api.inputs import ApiKeyId
from identity.permissions import ROLES, Permission
from identity.sessions import Principal
from services import administration

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
def create_user(body: UserIn, kyso: KysoDep, request: Request, principal: Admin) -> dict[str, object]:
    new = administration.create_account(
        kyso, actor_of(request, principal), username=body.username, role=body.role,
        display_name=body.display_name, cccd=body.cccd, venue=body.venue,
    )  # fmt: skip
    return {**new.info.as_json(), "one_time_password": new.one_time_password}


@router.get("/users", summary="List accounts")
def list_users(kyso: KysoDep, principal: Admin, role: Role | None = None) -> list[dict[str, object]]:
    return [info.as_json() for info in administration.list_accounts(kyso, role)]


@router.post("/users/{username}/disable", summary="Disable an account; its sessions end at once")
def disable_user(username: str, kyso: KysoDep, request: Request, principal: Admin) -> dict[str, object]:
    return administration.set_enabled(kyso, actor_of(request, principal), username, False).as_json()


@router.post("/users/{username}/enable", summary="Enable a disabled account")
def enable_user(username: str, kyso: KysoDep, request: Request, principal: Admin) -> dict[str, object]:
    return administration.set_enabled(kyso, actor_of(request, principal), username, True).as_json()


@router.post("/users/{username}/role", summary="Change an account's role")
def change_role(
    username: str, body: RoleIn, kyso: KysoDep, request: Request, principal: Admin
) -> dict[str, object]:
    return administration.set_role(kyso, actor_of(request, principal), username, body.role).as_json()


class ReauthIn(BaseModel):
    current_password: str | None = Field(
        None, max_length=256, description="required when admins reset their own password or second factor"
    )


Reauth = Annotated[ReauthIn | None, Body()]


def _own(body: ReauthIn | None) -> administration.OwnAccount:
    return administration.OwnAccount(body.current_password if body else None)


@router.post("/users/{username}/reset-password", summary="Set a new one-time password (returned once)")
def reset_password(
    username: str, request: Request, kyso: KysoDep, principal: Admin, body: Reauth = None
) -> dict[str, str | None]:
    actor = actor_of(request, principal)
    return {"one_time_password": administration.reset_password(kyso, actor, username, own=_own(body))}


@router.post("/users/{username}/totp", summary="Reset an account's second factor and start a new enrolment")
def reset_totp(
    username: str, request: Request, kyso: KysoDep, principal: Admin, body: Reauth = None
) -> dict[str, str]:
    enrolment = administration.reset_second_factor(
        kyso, actor_of(request, principal), username, own=_own(body)
    )
    return {"otpauth_uri": enrolment.uri, "qr_png_base64": enrolment.qr_png_base64()}


@router.post("/users/{username}/unlock", summary="Reopen login and code entry of a locked account")
def unlock_user(username: str, kyso: KysoDep, request: Request, principal: Admin) -> dict[str, object]:
    return administration.unlock(kyso, actor_of(request, principal), username).as_json()


@router.post("/api-keys", status_code=201, summary="Create an API key for a service account (shown once)")
def new_api_key(body: ApiKeyIn, kyso: KysoDep, request: Request, principal: KeyAdmin) -> dict[str, object]:
    key = administration.new_api_key(
        kyso, actor_of(request, principal), body.username, body.name, body.scopes
    )
    return {"id": key.id, "key": key.key, "prefix": key.prefix, "scopes": key.scopes}


@router.get("/api-keys", summary="List API keys (never the keys themselves)")
def list_api_keys(kyso: KysoDep, principal: KeyAdmin) -> list[dict[str, object]]:
    return administration.api_keys(kyso)


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
def delete_api_key(key_id: ApiKeyId, kyso: KysoDep, request: Request, principal: KeyAdmin) -> None:
    administration.remove_api_key(kyso, actor_of(request, principal), key_id)
