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

PENDING = "*"  # a signature authorised whose hash comes later (CSC extendTransaction); matches no digest
_DIGEST = re.compile(r"^(?:[0-9a-f]{64}|[0-9a-f]{96})$")  # SHA-256 (documents) or SHA-384 (signHash)


@dataclass(frozen=True)
class AuthorizationInfo:
    id: str
    account_id: int
    credential_id: str
    document_hashes: list[str]
    expires_at: dt.datetime
    used_at: dt.datetime | None
    pending: int = 0  # further signatures authorised, whose hashes an extension will name

    @classmethod
    def of(cls, row: SigningAuthorization) -> AuthorizationInfo:
        listed = json.loads(row.document_hashes)
        hashes = [h for h in listed if h != PENDING]
        return cls(
            row.id,
            row.account_id,
            row.credential_id,
            hashes,
            row.expires_at,
            row.used_at,
            len(listed) - len(hashes),
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
    pending: int = 0,
) -> AuthorizationInfo:
    """``hashes`` confirmed now, and ``pending`` further signatures whose hashes ``extend`` names later
    (CSC numSignatures beyond the hashes listed: sequential signatures of one transaction)."""
    row = SigningAuthorization(
        id=secrets.token_urlsafe(18),
        account_id=account_id,
        requested_by=requested_by,
        credential_id=credential_id,
        document_hashes=json.dumps(hashes + [PENDING] * pending),
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


def extend(
    session: Session,
    authorization_id: str,
    *,
    caller_id: int,
    credential_id: str,
    hashes: list[str],
    now: dt.datetime,
) -> AuthorizationInfo:
    """CSC extendTransaction: a new authorisation for ``hashes`` out of the signatures the signer authorised
    beyond the hashes then known. The remaining count moves to the new one (so it can be extended in turn),
    the old one keeps only its own hashes; it expires when the original does. The row is locked, so two
    extensions of one authorisation cannot both spend its remaining signatures."""
    row = (
        session.get(SigningAuthorization, authorization_id, with_for_update=True)
        if authorization_id
        else None
    )
    if row is None or caller_id not in (row.account_id, row.requested_by):
        raise ServiceError(Kind.FORBIDDEN, "no such signing authorisation for this account")
    if row.credential_id != credential_id:
        raise ServiceError(Kind.FORBIDDEN, "this signing authorisation is for another credential")
    if now >= row.expires_at:
        raise ServiceError(Kind.EXPIRED, "this signing authorisation has expired; confirm again")
    listed = json.loads(row.document_hashes)
    own = [h for h in listed if h != PENDING]
    remaining = len(listed) - len(own)
    if remaining == 0:
        raise ServiceError(
            Kind.CONFLICT, "this signing authorisation has no further signatures to extend to; confirm again"
        )
    if len(hashes) > remaining:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"the signer authorised {remaining} more signature(s), not {len(hashes)}; confirm again",
        )
    row.document_hashes = json.dumps(own)
    extension = SigningAuthorization(
        id=secrets.token_urlsafe(18),
        account_id=row.account_id,
        requested_by=row.requested_by,
        credential_id=row.credential_id,
        document_hashes=json.dumps(hashes + [PENDING] * (remaining - len(hashes))),
        created_at=now,
        expires_at=row.expires_at,
    )
    session.add(extension)
    session.flush()
    return AuthorizationInfo.of(extension)


def consume(session: Session, authorization_id: str, *, now: dt.datetime) -> None:
    """Mark used; raises CONFLICT when another request consumed it first."""
    if not signing_repo.mark_authorization_used(session, authorization_id, now):
        raise ServiceError(Kind.CONFLICT, "this signing authorisation was already used; confirm again")
