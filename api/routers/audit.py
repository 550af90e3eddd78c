"""The audit log, for auditors: is the chain intact, and what does it say."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import require
from api.deps import RuntimeDep
from api.inputs import AuditSeq
from ca import service_signers
from core.errors import ServiceError
from identity import audit
from identity.permissions import Permission
from services.root import AUDIT_SEAL_SIGNER

router = APIRouter(
    prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(require(Permission.AUDIT_READ))]
)


@router.get("/verify", summary="Walk the hash chain and check the seals")
def verify(runtime: RuntimeDep) -> dict[str, object]:
    with runtime.db.reading() as session:
        try:
            verifier = service_signers.load(session, runtime.ca, AUDIT_SEAL_SIGNER).signer.verify
        except ServiceError:
            verifier = None
        return audit.verify(session, verifier).as_json()


@router.get("/entries", summary="Entries in order, with their hashes")
def entries(
    runtime: RuntimeDep,
    after: AuditSeq = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    with runtime.db.reading() as session:
        found = []
        for record in audit.entries(session, after or None):
            found.append(record.as_json())
            if len(found) >= limit:
                break
        return found
