"""Remote-signing authorisation (sole control, as CSC-API SCAL2 services do it).

The signer confirms with a fresh second-factor code (checked by identity/, before ``grant`` is called); the
authorisation is bound to the SHA-256 hashes of exactly the documents named, expires within minutes and is
consumed once, atomically: two requests racing with one authorisation cannot both sign.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import Kind, ServiceError, malformed
from store import signing_repo
from store.models import SigningAuthorization

_DIGEST = re.compile(r"^(?:[0-9a-f]{64}|[0-9a-f]{96})$")  # SHA-256 (documents) or SHA-384 (signHash)


@dataclass(frozen=True)
class AuthorizationInfo:
    id: str
    account_id: int
    credential_id: str
    document_hashes: list[str]
    expires_at: dt.datetime
    used_at: dt.datetime | None

    @classmethod
    def of(cls, row: SigningAuthorization) -> AuthorizationInfo:
        return cls(
            row.id,
            row.account_id,
            row.credential_id,
            json.loads(row.document_hashes),
            row.expires_at,
            row.used_at,
        )


def clean_hashes(hashes: Iterable[str], limit: int) -> list[str]:
    cleaned = []
    for value in hashes:
        text = str(value).strip().lower()
        if not _DIGEST.match(text):
            raise malformed(f"{str(value)[:100]!r} is not a SHA-256 hash (64 hexadecimal characters)")
        if text not in cleaned:
            cleaned.append(text)
    if not cleaned:
        raise malformed("name at least one document (its SHA-256 hash)")
    if len(cleaned) > limit:
        raise malformed(f"one authorisation covers at most {limit} documents; {len(cleaned)} were named")
    return cleaned


def grant(
    session: Session,
    *,
    account_id: int,
    requested_by: int,
    credential_id: str,
    hashes: list[str],
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> AuthorizationInfo:
    row = SigningAuthorization(
        id=secrets.token_urlsafe(18),
        account_id=account_id,
        requested_by=requested_by,
        credential_id=credential_id,
        document_hashes=json.dumps(hashes),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return AuthorizationInfo.of(row)


def check(
    session: Session, authorization_id: str, *, caller_id: int, hashes: Iterable[str], now: dt.datetime
) -> AuthorizationInfo:
    """The authorisation, if the caller is its signer (or the integrator that asked for it), unused,
    unexpired, and covering every one of ``hashes``."""
    row = session.get(SigningAuthorization, authorization_id) if authorization_id else None
    if row is None or caller_id not in (row.account_id, row.requested_by):  # as unknown as a made-up id
        raise ServiceError(Kind.FORBIDDEN, "no such signing authorisation for this account")
    if row.used_at is not None:
        raise ServiceError(Kind.CONFLICT, "this signing authorisation was already used; confirm again")
    if now >= row.expires_at:
        raise ServiceError(Kind.EXPIRED, "this signing authorisation has expired; confirm again")
    allowed = set(json.loads(row.document_hashes))
    for digest in hashes:
        if digest not in allowed:
            raise ServiceError(
                Kind.FORBIDDEN,
                f"document {digest[:16]}… is not one the signer confirmed; authorise exactly these documents",
            )
    return AuthorizationInfo.of(row)


def consume(session: Session, authorization_id: str, *, now: dt.datetime) -> None:
    """Mark used; raises CONFLICT when another request consumed it first."""
    if not signing_repo.mark_authorization_used(session, authorization_id, now):
        raise ServiceError(Kind.CONFLICT, "this signing authorisation was already used; confirm again")
