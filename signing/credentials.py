"""Which certificates in custody an account may sign with (a CSC "credential")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from core.errors import Kind, ServiceError, conflict, malformed, not_found
from core.ids import new_id
from core.signing_profiles import PERSONAL_PROFILES, SIGNING_PROFILES
from store import repositories, signing_repo
from store.models import Account, Certificate, SigningCredential


@dataclass(frozen=True)
class CredentialInfo:
    id: str
    account_id: int
    certificate_serial: str
    purpose: str

    @classmethod
    def of(cls, row: SigningCredential) -> CredentialInfo:
        return cls(row.id, row.account_id, row.certificate_serial, row.purpose)


def bind(session: Session, *, account: Account, serial: str, now: dt.datetime) -> CredentialInfo:
    """Let ``account`` sign with certificate ``serial`` in custody: only its holder, and only one account.

    A personal certificate (citizen, official) is its holder's: the CCCD its subject names must be the
    account's. An agency seal is the agency's: the account's CCCD must be named by a valid official
    certificate of the seal's organisation (how Kyso knows a person works for an agency). The certificate
    row is locked first, so two binds of one certificate cannot both see it unbound.
    """
    certificate = repositories.certificate_by_serial(session, serial.strip().lower(), for_update=True)
    if certificate is None:
        raise not_found(f"no certificate {serial}")
    purpose = SIGNING_PROFILES.get(certificate.profile)
    if purpose is None or certificate.key_id is None or certificate.der is None:
        raise malformed(f"certificate {certificate.serial} is not a signing certificate held in custody")
    if certificate.profile in PERSONAL_PROFILES:
        _check_holder(account, certificate)
    else:
        _check_member(session, account, certificate, now)
    holder = repositories.credential_holder(session, certificate.serial)
    if holder is not None:
        credential_id, holder_id, holder_name = holder
        if holder_id == account.id:
            raise conflict(
                f"certificate {certificate.serial} is already bound to this account",
                credential_id=credential_id,
            )
        raise conflict(
            f"certificate {certificate.serial} is already bound to account {holder_name}; "
            "a certificate is bound to one account only"
        )
    row = SigningCredential(
        id=new_id(),
        account_id=account.id,
        certificate_serial=certificate.serial,
        purpose=purpose,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return CredentialInfo.of(row)


def _masked(cccd: str) -> str:
    return f"…{cccd[-4:]}"


def _named_cccds(certificate: Certificate) -> set[str]:
    """Every CCCD the certificate names: its record, ``serialNumber=PNOVN-…`` and ``UID=CCCD:…``."""
    named = {certificate.cccd} if certificate.cccd else set()
    subject = x509.load_der_x509_certificate(certificate.der or b"").subject
    for oid, prefix in ((NameOID.SERIAL_NUMBER, "PNOVN-"), (NameOID.USER_ID, "CCCD:")):
        for attribute in subject.get_attributes_for_oid(oid):
            value = str(attribute.value)
            if value.startswith(prefix):
                named.add(value.removeprefix(prefix))
    return named


def _check_holder(account: Account, certificate: Certificate) -> None:
    named = _named_cccds(certificate)
    if not named:
        raise malformed(f"certificate {certificate.serial} names no CCCD, so it has no holder to bind it to")
    if account.cccd is None:
        raise malformed(
            f"account {account.username} has no CCCD, so it cannot be the holder of certificate "
            f"{certificate.serial} (CCCD {_masked(sorted(named)[0])}); a personal certificate is bound only "
            "to its holder's account"
        )
    if named != {account.cccd}:
        raise malformed(
            f"certificate {certificate.serial} names another person: its CCCD "
            f"({', '.join(_masked(c) for c in sorted(named))}) is not account {account.username}'s "
            f"({_masked(account.cccd)}); a personal certificate is bound only to its holder's account"
        )


def _check_member(session: Session, account: Account, certificate: Certificate, now: dt.datetime) -> None:
    organization = certificate.organization
    if not organization:
        raise malformed(f"seal certificate {certificate.serial} names no organisation")
    member = (
        repositories.official_of_organization(session, account.cccd, organization, now)
        if account.cccd
        else None
    )
    if member is None:
        raise malformed(
            f"account {account.username} is not a member of {organization}: the seal of an organisation is "
            "bound only to an account whose CCCD a valid official certificate of that organisation names"
            + ("" if account.cccd else " (the account has no CCCD)")
        )


def of_account(session: Session, account_id: int) -> Sequence[CredentialInfo]:
    return [CredentialInfo.of(row) for row in signing_repo.active_credentials(session, account_id)]


def find(session: Session, credential_id: str) -> CredentialInfo | None:
    """An active credential by its id (CSC's credentialID), or None."""
    row = session.get(SigningCredential, credential_id) if credential_id else None
    if row is None:
        return None
    return next((c for c in of_account(session, row.account_id) if c.id == row.id), None)


def choose(
    session: Session,
    account_id: int,
    credential_id: str | None,
    purpose: str | None = None,
    *,
    now: dt.datetime,
) -> CredentialInfo:
    """The credential named, or the account's only (latest) one for ``purpose``; refuses someone else's,
    and one whose certificate is not the account's own (bound before ``bind`` checked the holder)."""
    chosen = _pick(of_account(session, account_id), credential_id, purpose)
    account = session.get(Account, account_id)
    certificate = repositories.certificate_by_serial(session, chosen.certificate_serial)
    if account is None or certificate is None or certificate.der is None:
        raise ServiceError(Kind.FORBIDDEN, f"credential {chosen.id} is no longer usable")
    try:
        if certificate.profile in PERSONAL_PROFILES:
            _check_holder(account, certificate)
        else:
            _check_member(session, account, certificate, now)
    except ServiceError as exc:
        raise ServiceError(
            Kind.FORBIDDEN,
            f"credential {chosen.id} was bound before Kyso checked who holds a certificate, and it is not "
            f"this account's to use: {exc.message}; ask the CA operator to bind your own certificate",
        ) from None
    return chosen


def _pick(owned: Sequence[CredentialInfo], credential_id: str | None, purpose: str | None) -> CredentialInfo:
    if credential_id is not None:
        for credential in owned:
            if credential.id == credential_id:
                return credential
        raise ServiceError(Kind.FORBIDDEN, f"credential {credential_id} is not one of this account's")
    candidates = [c for c in owned if purpose is None or c.purpose == purpose]
    if not candidates:
        raise ServiceError(
            Kind.CONFLICT,
            "this account has no signing certificate in custody"
            + (f" for {purpose}" if purpose else "")
            + "; ask the CA operator to bind one (kyso user bind-cert)",
        )
    return candidates[-1]
