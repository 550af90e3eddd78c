"""/healthz: is the process up and can it reach a migrated database."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep
from api.schemas import HealthOut
from store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(runtime: RuntimeDep) -> JSONResponse:
    try:
        revision = current_revision(runtime.db)
        database = "ok" if revision == head_revision(runtime.db) else "schema is not migrated"
    except Exception as exc:
        revision, database = None, f"unreachable ({type(exc).__name__})"
    body = HealthOut(
        status="ok" if database == "ok" else "degraded", database=database, schema_revision=revision
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)
