"""/healthz (liveness): is the process up and can it reach a migrated database. /readyz (readiness): can
that database also take the write lock every audited action needs, within about two seconds."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import KysoDep
from api.schemas import HealthOut
from core.errors import Kind, ServiceError
from store.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


def _health(kyso: KysoDep) -> HealthOut:
    try:
        revision = current_revision(kyso.db)
        database = "ok" if revision == head_revision(kyso.db) else "schema is not migrated"
    except Exception as exc:
        revision, database = None, f"unreachable ({type(exc).__name__})"
    return HealthOut(
        status="ok" if database == "ok" else "degraded", database=database, schema_revision=revision
    )


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(kyso: KysoDep) -> JSONResponse:
    body = _health(kyso)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


@router.get(
    "/readyz",
    response_model=HealthOut,
    responses={503: {"description": "not ready", "content": {"application/problem+json": {}}}},
)
def readyz(kyso: KysoDep) -> HealthOut:
    """200 when the database is reachable, migrated and writable; 503 problem+json otherwise, e.g. while
    a stuck transaction holds the audit log's head (take this instance out of the balancer's rotation)."""
    body = _health(kyso)
    if body.status != "ok":
        raise ServiceError(Kind.UNAVAILABLE, f"the database is not ready: {body.database}")
    kyso.db.check_writable()
    return body
