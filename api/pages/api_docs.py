"""``/docs``: the API documentation (Swagger UI) without internet access.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, so on a government LAN
with no way out it is blank, and the strict CSP would forbid it anyway. This one serves the vendored
swagger-ui-dist files from /static (api/static/swagger-ui.NOTICE: origin, version, licence) and starts
them with /static/api-docs.js: the page is under the same CSP as every other page. ReDoc is not offered
(``redoc_url=None`` in api/app.py): one more megabyte of vendored script for the same document.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.pages.render import environment

router = APIRouter(include_in_schema=False)


@router.get("/docs")
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    openapi_url = request.scope.get("root_path", "").rstrip("/") + (app.openapi_url or "/openapi.json")
    html = environment().get_template("api_docs.html").render(title=app.title, openapi_url=openapi_url)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
