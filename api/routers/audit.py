"""The audit log, for auditors: is the chain intact, and what does it say (services.audit_log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import KysoDep
from api.inputs import AuditSeq
from identity.permissions import Permission
from services import audit_log

router = APIRouter(
    prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(require(Permission.AUDIT_READ))]
)


@router.get("/verify", summary="Walk the hash chain and check the seals")
def verify(kyso: KysoDep) -> dict[str, object]:
    return audit_log.verify(kyso).as_json()


@router.get("/entries", summary="Entries in order, with their hashes")
def entries(
    kyso: KysoDep,
    after: AuditSeq = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    return [record.as_json() for record in audit_log.entries(kyso, after or None, limit)]
