"""``/account/password``: choose a new password. Every signed-in account may open it; an account still on
its one-time password is sent here by every other page (``api.pages.access.page_caller``) until it has
chosen its own. The form's script calls ``POST /api/v1/auth/password`` with the session's CSRF header."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.pages.access import page_caller
from api.pages.render import page
from identity.permissions import Permission
from identity.sessions import Principal

router = APIRouter(tags=["pages"], include_in_schema=False)
Owner = Annotated[Principal, Depends(page_caller(Permission.SELF, during_password_change=True))]
SCRIPT_STRINGS = ["network_error", "password_mismatch", "password_changed"]


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, principal: Owner) -> HTMLResponse:
    return page(
        request,
        "account_password.html",
        title="password_title",
        scripts=("common.js",),
        script_strings=SCRIPT_STRINGS,
        principal=principal,
        forced=principal.must_change_password,
    )
