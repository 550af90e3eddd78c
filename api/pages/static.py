"""``GET /static/{name}``: the pages' CSS and scripts (files in api/static, an explicit list: no paths)
and the desk's generated sounds. Public, cached by the browser for an hour."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from api.pages import sounds
from core.errors import not_found

STATIC = Path(__file__).resolve().parents[1] / "static"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
GENERATED = {"admit.wav": sounds.admit, "deny.wav": sounds.deny}

router = APIRouter(include_in_schema=False)


@functools.cache
def _files() -> dict[str, tuple[bytes, str]]:
    return {p.name: (p.read_bytes(), TYPES[p.suffix]) for p in STATIC.iterdir() if p.suffix in TYPES}


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    headers = {"Cache-Control": "public, max-age=3600"}
    if name in GENERATED:
        return Response(GENERATED[name](), media_type="audio/wav", headers=headers)
    found = _files().get(name)
    if found is None:
        raise not_found("no such file")
    body, media_type = found
    return Response(body, media_type=media_type, headers=headers)
