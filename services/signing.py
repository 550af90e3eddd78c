"""Signing after the request is parsed: bind a credential, authorise with a one-time code, sign PDFs,
sign digests, and the operator's own signature with a certificate in custody.

Each function here is the one place its use case is written; ``api/routers/signing.py``, ``kyso sign``
(cli/sign_cmd.py) and ``kyso user bind-cert`` (cli/user_cmd.py) parse their input, call it with the
``Actor`` they act for (and, over HTTP, the caller's ``Principal``: what its role or API key may do),
and render what it returns.

Audit entries, written in the transaction of their action:

- ``signing.credential.bind`` (target the account; ``serial``, ``purpose``);
- ``signing.authorize`` (target the signer; ``authorization``, ``documents``, ``credential``, and
  ``pending`` when further signatures were authorised whose hashes come later);
- ``signing.authorize.extend`` (target the signer; ``authorization``, ``extends``, ``documents``,
  ``pending``), CSC extendTransaction;
- ``document.sign`` (target the document id; ``sha256``, ``input_sha256``, ``level``, ``serial``, ``kind``,
  ``authorization`` — for ``sign_in_custody`` only ``sha256``, ``input_sha256``, ``serial``, ``level``);
- ``document.sign-hash`` (target the certificate serial; ``hashes``, ``authorization``).

A refused authorisation, signature or digest signature (any ServiceError) is written too, after the
action's own transaction rolled back: ``outcome="refused"``, no target, ``reason`` the message. A wrong
one-time code is counted per account (identity.lockout) in the authorisation's transaction, which is
committed before the refusal. The operator's ``sign_in_custody`` (``kyso sign``) records its refusals the
same way (an encrypted, certified "no changes" or unreadable input, a revoked certificate): every refused
signature is in the log, whichever door it came through.

Serials are full serials: the CLI resolves a typed prefix first (cli.common.resolve_serial).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

from anyio.to_thread import run_sync

from core.errors import Kind, ServiceError, malformed
from identity import accounts, lockout
from identity.permissions import Permission, permissions_of
from services.audit import Actor, record
from signing import authorizations, credentials, registry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from identity.sessions import Principal
    from services.root import Kyso
    from signing.authorizations import AuthorizationInfo
    from signing.credentials import CredentialInfo
    from signing.service import DocumentIn, DocumentOut, SigningKey, SignRequest
    from store.models import Account

T = TypeVar("T")

PERMISSION_FOR = {"sign": Permission.DOCUMENTS_SIGN, "seal": Permission.DOCUMENTS_SEAL}
SIGNED_FOR_ROLES = ("official", "clerk", "citizen")  # whom an integrator may sign on behalf of


class Upload(Protocol):
    """A PDF as a web framework hands it over (FastAPI's ``UploadFile`` is one)."""

    @property
    def filename(self) -> str | None: ...
    @property
    def file(self) -> BinaryIO: ...
    @property
    def size(self) -> int | None: ...


@dataclass(frozen=True)
class HashSignatures:
    """What ``sign_hash`` made: one CMS SignedData (DER) per digest, in the order asked."""

    certificate_serial: str
    signatures: list[tuple[str, bytes]]  # (the digest in hex, the CMS container)


# --- credentials ----------------------------------------------------------------------------------------
def credentials_of(kyso: Kyso, account_id: int) -> Sequence[CredentialInfo]:
    with kyso.db.reading() as session:
        return credentials.of_account(session, account_id)


def bind_credential(kyso: Kyso, actor: Actor, username: str, serial: str) -> CredentialInfo:
    """Let ``username`` sign (or seal) with certificate ``serial`` in custody: only its holder may."""
    with kyso.db.transaction() as session:
        account = accounts.get(session, username)
        bound = credentials.bind(session, account=account, serial=serial, now=kyso.clock.now())
        record(
            session,
            kyso,
            actor,
            "signing.credential.bind",
            account.username,
            serial=bound.certificate_serial,
            purpose=bound.purpose,
        )
    return bound


def credential_for(
    kyso: Kyso, caller: Principal, credential_id: str
) -> tuple[CredentialInfo, str, SigningKey]:
    """A credential the caller may use (CSC ``credentials/info``): their own, or, for an integrator's
    service account, one of a signer it may act for. Returns it, its holder's username and its key (whose
    certificate must be usable now)."""
    with kyso.db.reading() as session:
        found = credentials.find(session, credential_id)
        if found is None:
            raise ServiceError(Kind.FORBIDDEN, f"credential {credential_id[:40]} is not one you may use")
        from store.models import Account

        owner = session.get(Account, found.account_id)
        if owner is None:
            raise ServiceError(Kind.FORBIDDEN, f"credential {credential_id[:40]} is not one you may use")
        if caller.role == "service":
            _signer(session, caller, owner.username)
        elif owner.id != caller.account_id:
            raise ServiceError(Kind.FORBIDDEN, f"credential {credential_id[:40]} is not one you may use")
        username = owner.username
    return found, username, kyso.signing.keys.signing_key(found.certificate_serial)


def usable_credentials(kyso: Kyso, caller: Principal, user: str | None) -> Sequence[CredentialInfo]:
    """The credentials of the caller, or of the signer ``user`` an integrator acts for (CSC list)."""
    with kyso.db.reading() as session:
        account = _signer(session, caller, user) if caller.role == "service" or user else None
        account_id = account.id if account is not None else caller.account_id
        return credentials.of_account(session, account_id)


# --- refusals -----------------------------------------------------------------------------------------
def _record_refusal(kyso: Kyso, actor: Actor, action: str, exc: ServiceError) -> None:
    """The one place a refused authorisation or signature is written to the audit log."""
    with kyso.db.transaction() as session:
        record(session, kyso, actor, action, None, outcome="refused", reason=exc.message[:300])


async def _refusals_recorded(kyso: Kyso, actor: Actor, action: str, work: Awaitable[T]) -> T:
    try:
        return await work
    except ServiceError as exc:
        await run_sync(_record_refusal, kyso, actor, action, exc)
        raise


# --- authorisation ------------------------------------------------------------------------------------
def authorize(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    *,
    hashes: Iterable[str],
    code: str,
    credential_id: str | None = None,
    on_behalf_of: str | None = None,
    pending: int = 0,
) -> AuthorizationInfo:
    """The signer confirms exactly these documents' hashes with a fresh code from their authenticator.

    ``pending``: further signatures of the same transaction whose hashes exist only once the previous one
    is made (CSC numSignatures beyond the hashes listed); ``extend_authorization`` names them.

    The caller signs for themselves, or, as an integrator's service account, for the signer named by
    ``on_behalf_of`` (who still confirms with their own code). A wrong code is counted per account and
    refused; a locked account is refused before its code is looked at (``identity.lockout.Locked``)."""
    try:
        granted = _authorize(kyso, actor, caller, hashes, code, credential_id, on_behalf_of, pending)
    except ServiceError as exc:
        _record_refusal(kyso, actor, "signing.authorize", exc)
        raise
    return granted


def _authorize(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    hashes: Iterable[str],
    code: str,
    credential_id: str | None,
    on_behalf_of: str | None,
    pending: int = 0,
) -> AuthorizationInfo:
    settings = kyso.settings
    with kyso.db.transaction() as session:
        account = _signer(session, caller, on_behalf_of)
        credential = credentials.choose(session, account.id, credential_id, now=kyso.clock.now())
        needed = PERMISSION_FOR[credential.purpose]
        if not caller.can(needed):
            raise ServiceError(Kind.FORBIDDEN, f"your account may not {credential.purpose} documents")
        if needed not in permissions_of(account.role):  # an integrator's key is not more than its signer
            raise ServiceError(
                Kind.FORBIDDEN, f"{account.username}'s role may not {credential.purpose} documents"
            )
        cleaned = authorizations.clean_hashes(hashes, settings.signing_batch_max)
        if pending < 0 or len(cleaned) + pending > settings.signing_batch_max:
            raise malformed(f"one authorisation covers at most {settings.signing_batch_max} signatures")
        if account.totp_secret is None or not account.totp_confirmed:
            raise ServiceError(Kind.CONFLICT, "the signer has no authenticator app enrolled; enrol one first")
        now = kyso.clock.now()
        # counted per account (identity/lockout.py); a wrong code is committed before it is refused
        granted = None
        if lockout.check_code(
            session,
            kyso.clock,
            kyso.secret_box,
            account,
            code,
            where="signing.authorize",
            source=actor.source,
        ):
            granted = authorizations.grant(
                session, account_id=account.id, requested_by=caller.account_id,
                credential_id=credential.id, hashes=cleaned, now=now,
                lifetime=dt.timedelta(minutes=settings.signing_authorization_minutes), pending=pending,
            )  # fmt: skip
            record(
                session, kyso, actor, "signing.authorize", account.username,
                authorization=granted.id, documents=cleaned, credential=credential.id, **_pending(pending),
            )  # fmt: skip
    if granted is None:
        raise ServiceError(
            Kind.FORBIDDEN, "the code is wrong, expired or already used; nothing was authorised"
        )
    return granted


def extend_authorization(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    authorization_id: str,
    credential_id: str,
    hashes: Iterable[str],
) -> AuthorizationInfo:
    """A new authorisation for ``hashes`` out of the further signatures an authorisation left open (CSC
    extendTransaction); no new code: the signer authorised that many signatures when they confirmed."""
    try:
        with kyso.db.transaction() as session:
            cleaned = authorizations.clean_hashes(hashes, kyso.settings.signing_batch_max)
            extended = authorizations.extend(
                session, authorization_id, caller_id=caller.account_id, credential_id=credential_id,
                hashes=cleaned, now=kyso.clock.now(),
            )  # fmt: skip
            from store.models import Account

            holder = session.get(Account, extended.account_id)
            signer = holder.username if holder is not None else None
            record(
                session, kyso, actor, "signing.authorize.extend", signer, authorization=extended.id,
                extends=authorization_id, documents=cleaned, pending=extended.pending,
            )  # fmt: skip
    except ServiceError as exc:
        _record_refusal(kyso, actor, "signing.authorize.extend", exc)
        raise
    return extended


def _pending(pending: int) -> dict[str, Any]:
    """The audit detail of further signatures left open, only when there are some."""
    return {"pending": pending} if pending else {}


def _signer(session: Session, caller: Principal, on_behalf_of: str | None) -> Account:
    """Whose credential an authorisation is for: the caller's own, or, for an integrator (a service
    account's API key), the signer named by ``on_behalf_of`` — an enabled official, clerk or citizen, who
    still confirms with their own code."""
    if caller.role != "service":
        if on_behalf_of is not None and on_behalf_of.strip().lower() != caller.username:
            raise ServiceError(Kind.FORBIDDEN, "only integrators' service accounts sign on behalf of others")
        return accounts.get(session, caller.username)
    if on_behalf_of is None:
        raise malformed("an integrator signs on behalf of a signer: name their username in on_behalf_of")
    account = accounts.get(session, on_behalf_of)
    if account.role not in SIGNED_FOR_ROLES:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"an integrator signs only for {', '.join(SIGNED_FOR_ROLES)} accounts; "
            f"{account.username} is a {account.role} account",
        )
    if account.disabled:
        raise ServiceError(
            Kind.FORBIDDEN, f"account {account.username} is disabled; nothing is signed for it"
        )
    return account


def _prepare(
    kyso: Kyso, caller: Principal, authorization_id: str, hashes: list[str]
) -> tuple[AuthorizationInfo, SigningKey]:
    """The authorisation (checked, not yet consumed) and the key of its credential, usable now."""
    from store.models import Account

    with kyso.db.reading() as session:
        granted = authorizations.check(
            session, authorization_id, caller_id=caller.account_id, hashes=hashes, now=kyso.clock.now()
        )
        credential = next(
            (c for c in credentials.of_account(session, granted.account_id) if c.id == granted.credential_id),
            None,
        )
        signer = session.get(Account, granted.account_id)
    if signer is None or signer.disabled:
        raise ServiceError(Kind.FORBIDDEN, "the signer's account is disabled; nothing is signed for it")
    if credential is None:
        raise ServiceError(Kind.FORBIDDEN, "the credential of this authorisation is no longer available")
    if not caller.can(PERMISSION_FOR[credential.purpose]):
        raise ServiceError(Kind.FORBIDDEN, f"your account may not {credential.purpose} documents")
    return granted, kyso.signing.keys.signing_key(credential.certificate_serial)


# --- signing PDFs -------------------------------------------------------------------------------------
async def sign(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    authorization_id: str,
    uploads: Sequence[Upload],
    *,
    level: str = "b-lt",
    appearance: str = "official",
    title: str | None = None,
    reference_number: str | None = None,
    certify: bool = False,
    page: int = -1,
) -> list[DocumentOut]:
    """Sign the PDFs an authorisation confirmed; the authorisation is consumed and every signature
    registered in one transaction (all or nothing) once all are signed."""
    work = _sign(kyso, actor, caller, authorization_id, uploads, level, appearance, title,
                 reference_number, certify, page)  # fmt: skip
    return await _refusals_recorded(kyso, actor, "document.sign", work)


async def _sign(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    authorization_id: str,
    uploads: Sequence[Upload],
    level: str,
    appearance: str,
    title: str | None,
    reference_number: str | None,
    certify: bool,
    page: int,
) -> list[DocumentOut]:
    from signing.pades import Level
    from signing.service import Appearance, DocumentIn, SignRequest

    service = kyso.signing
    request = SignRequest(
        level=Level.parse(level), appearance=Appearance.parse(appearance), title=title,
        reference_number=reference_number, certify=certify, page=page,
    )  # fmt: skip
    inputs = []
    for upload in uploads:
        if upload.size is not None and upload.size > service.max_document_bytes:
            raise ServiceError(Kind.TOO_LARGE, f"{upload.filename} is larger than this service signs")
        inputs.append(await run_sync(DocumentIn, upload.filename or "document.pdf", upload.file))
    granted, key = await run_sync(_prepare, kyso, caller, authorization_id, [d.sha256 for d in inputs])
    signed = await service.sign(key, inputs, request)
    await run_sync(_register, kyso, actor, authorization_id, signed, granted.account_id)
    return signed


def _register(
    kyso: Kyso, actor: Actor, authorization_id: str, signed: list[DocumentOut], account_id: int
) -> None:
    """Consume the authorisation and register every signature in one transaction: all or nothing."""
    with kyso.db.transaction() as session:
        authorizations.consume(session, authorization_id, now=kyso.clock.now())
        for item in signed:
            document = item.record
            registry.record(session, document, account_id)
            record(
                session, kyso, actor, "document.sign", document.id,
                sha256=document.sha256, input_sha256=document.input_sha256, level=document.level,
                serial=document.certificate_serial, kind=document.kind, authorization=authorization_id,
            )  # fmt: skip


# --- signing digests ----------------------------------------------------------------------------------
async def sign_hash(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    authorization_id: str,
    hashes: Sequence[str],
    level: str,
    *,
    raw: bool = False,
) -> HashSignatures:
    """Signatures over digests an authorisation confirmed: CMS containers over byte-range digests, B-B or
    B-T (``/api/v1/signing/sign-hash``), or, with ``raw``, the bare signature values over the digests of a
    client's own signed attributes (CSC ``signatures/signHash``, which pyHanko's CSCSigner calls)."""
    work = _sign_hash(kyso, actor, caller, authorization_id, hashes, level, raw)
    return await _refusals_recorded(kyso, actor, "document.sign-hash", work)


async def _sign_hash(
    kyso: Kyso,
    actor: Actor,
    caller: Principal,
    authorization_id: str,
    hashes: Sequence[str],
    level: str,
    raw: bool,
) -> HashSignatures:
    from signing.pades import Level

    parsed = Level.parse(level)
    if parsed.long_term:
        raise malformed("sign-hash makes b-b or b-t signatures; add validation data to the PDF yourself")
    cleaned = authorizations.clean_hashes(hashes, kyso.settings.signing_batch_max)
    _, key = await run_sync(_prepare, kyso, caller, authorization_id, cleaned)
    service = kyso.signing
    template = service.pades_signer(key).cms
    size = {"sha256": 32, "sha384": 48}[template.digest_algorithm]
    timestamper = service.timestamper if parsed.timestamped else None
    signatures = []
    for digest_hex in cleaned:
        digest = bytes.fromhex(digest_hex)
        if len(digest) != size:
            raise malformed(f"this certificate signs {template.digest_algorithm} digests ({size} bytes)")
        if raw:
            signatures.append((digest_hex, await run_sync(key.signer.sign_prehashed, digest)))
            continue
        container = await template.async_sign(digest, template.digest_algorithm, timestamper=timestamper)
        signatures.append((digest_hex, container.dump()))
    await run_sync(_consume_for_hashes, kyso, actor, authorization_id, cleaned, key.serial)
    return HashSignatures(key.serial, signatures)


def _consume_for_hashes(
    kyso: Kyso, actor: Actor, authorization_id: str, hashes: list[str], serial: str
) -> None:
    with kyso.db.transaction() as session:
        authorizations.consume(session, authorization_id, now=kyso.clock.now())
        record(
            session, kyso, actor, "document.sign-hash", serial, hashes=hashes, authorization=authorization_id
        )


# --- the operator's own signature -----------------------------------------------------------------------
async def sign_in_custody(
    kyso: Kyso,
    actor: Actor,
    serial: str,
    document: DocumentIn,
    request: SignRequest,
    deliver: Callable[[DocumentOut], None],
) -> tuple[DocumentOut, SigningKey]:
    """The local operator signs one PDF with certificate ``serial`` in custody (no authorisation: the
    operator holds the service). ``deliver`` puts the signed PDF where it belongs; it is called inside
    the transaction that registers the document, so the file appears only once it is registered, and a
    failed delivery registers nothing."""
    return await _refusals_recorded(
        kyso, actor, "document.sign", _sign_in_custody(kyso, actor, serial, document, request, deliver)
    )


async def _sign_in_custody(
    kyso: Kyso,
    actor: Actor,
    serial: str,
    document: DocumentIn,
    request: SignRequest,
    deliver: Callable[[DocumentOut], None],
) -> tuple[DocumentOut, SigningKey]:
    service = kyso.signing
    key = await run_sync(service.keys.signing_key, serial)
    [signed] = await service.sign(key, [document], request)
    await run_sync(_register_in_custody, kyso, actor, signed, key, request, deliver)
    return signed, key


def _register_in_custody(
    kyso: Kyso,
    actor: Actor,
    signed: DocumentOut,
    key: SigningKey,
    request: SignRequest,
    deliver: Callable[[DocumentOut], None],
) -> None:
    with kyso.db.transaction() as session:
        registry.record(session, signed.record, None)
        record(
            session, kyso, actor, "document.sign", signed.record.id,
            sha256=signed.record.sha256, input_sha256=signed.record.input_sha256, serial=key.serial,
            level=request.level.value,
        )  # fmt: skip
        deliver(signed)
