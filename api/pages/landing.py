"""``/``: the front door. Four links — citizens' verification, the officials' portal, the security desk,
the API documentation — each named in the page's language with the other language on a smaller second
line (Vietnamese first by default), so a visitor who reads either finds their way without the switch."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.pages.i18n import translator
from api.pages.render import language, page

router = APIRouter(tags=["pages"], include_in_schema=False)


@dataclass(frozen=True)
class Door:
    href: str
    key: str  # door_<key> and door_<key>_text in api/pages/i18n.py
    sign_in: bool = False


DOORS = (
    Door("/verify", "verify"),
    Door("/portal", "portal", sign_in=True),
    Door("/desk", "desk", sign_in=True),
    Door("/docs", "docs"),
)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    other = "en" if language(request) == "vi" else "vi"
    return page(request, "landing.html", title="home_title", doors=DOORS, alt=translator(other))
