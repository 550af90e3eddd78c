"""Rendering pages: one Jinja2 environment (autoescape on for every template), the language of a request
(``?lang=`` remembered in a cookie, Vietnamese by default), and the HTML response with its cookies."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.pages import i18n
from core.clock import VIETNAM

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
LANG_COOKIE = "lang"
YEAR = 365 * 24 * 3600


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: user strings are always escaped
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    return env


def local_time(value: dt.datetime | str | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    """A time as people at the office read it (Asia/Ho_Chi_Minh)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(VIETNAM).strftime(fmt)


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in i18n.LANGUAGES else "vi"


def page(
    request: Request,
    template: str,
    *,
    title: str,
    status: int = 200,
    scripts: tuple[str, ...] = (),
    script_strings: list[str] | None = None,
    cookies: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    t = i18n.translator(lang)
    html = (
        environment()
        .get_template(template)
        .render(
            t=t,
            lang=lang,
            other_lang="en" if lang == "vi" else "vi",
            path=request.url.path,
            title=t(title),
            scripts=scripts,
            strings=i18n.strings(lang, script_strings or []),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
    secure = request.url.scheme == "https"
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=YEAR, samesite="lax", secure=secure)
    for name, value in (cookies or {}).items():
        response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure)
    return response
