"""OCSP responder (RFC 6960) for the issuing CAs, signed by their delegated responder certificates.

Requests without a nonce — what browsers, PDF readers and caches send — are answered from responses
pre-produced per certificate and stored in ``ocsp_responses``; the hot path signs nothing. A response is
replaced when half its validity has passed, and deleted in the transaction that changes the certificate's
status, so the next request sees the change. A request with a nonce gets a freshly signed response that
echoes it (a nonce cannot be pre-produced; it is 1 to 32 octets, RFC 8954). Malformed requests get the
protocol's malformedRequest, requests for an issuer this responder does not serve get unauthorized — never
an exception.

``ca.ocsp_cache`` keeps the pre-produced answers in process memory in front of this responder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy.orm import Session

from ca import service_signers
from ca.issuance import CertificateAuthority
from ca.records import REVOCATION_REASONS
from core.errors import ServiceError, not_found
from core.ids import serial_hex
from store import repositories
from store.db import Database
from store.models import Certificate, OcspResponse

log = logging.getLogger("kyso.ocsp")
ISSUING_AUTHORITIES = ("citizen", "government")
MAX_REQUEST_BYTES = 16 * 1024
# RFC 8954 §2.1: a nonce is 1 to 32 octets; a responder refuses a longer one with malformedRequest. Echoing
# whatever a client sends would let it make every response as large as its request.
MAX_NONCE_OCTETS = 32
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

CertId = tuple[str, bytes, bytes, int]  # hash algorithm, issuer name hash, issuer key hash, serial


@dataclass(frozen=True)
class _IssuerKeys:
    authority_id: str
    name_hashes: dict[str, bytes]
    key_hashes: dict[str, bytes]


@dataclass(frozen=True)
class OcspAnswer:
    """A DER OCSPResponse, and for a pre-produced one (no nonce, a known certificate) what it is about and
    when it was produced and expires — what a cache needs."""

    der: bytes
    cert_id: CertId | None = None
    produced_at: dt.datetime | None = None
    next_update: dt.datetime | None = None

    @property
    def pre_produced(self) -> bool:
        return self.cert_id is not None

    @property
    def refresh_at(self) -> dt.datetime | None:
        """When a fresher response is produced (half its validity); until then it may be served as is."""
        if self.produced_at is None or self.next_update is None:
            return None
        return self.produced_at + (self.next_update - self.produced_at) / 2


@dataclass(frozen=True)
class ParsedRequest:
    hash_name: str
    name_hash: bytes
    key_hash: bytes
    serial: int
    nonce: bytes | None


class OcspRefusal(Exception):
    """A request answered with an OCSP error status instead of a certificate status."""

    def __init__(self, status: ocsp.OCSPResponseStatus) -> None:
        super().__init__(status.name)
        self.status = status


def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


MALFORMED = error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
UNAUTHORIZED = error_response(ocsp.OCSPResponseStatus.UNAUTHORIZED)
TRY_LATER = error_response(ocsp.OCSPResponseStatus.TRY_LATER)
INTERNAL_ERROR = error_response(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
_REFUSALS = {
    ocsp.OCSPResponseStatus.MALFORMED_REQUEST: MALFORMED,
    ocsp.OCSPResponseStatus.UNAUTHORIZED: UNAUTHORIZED,
}


def parse_request(authority_id: str, request_der: bytes) -> ParsedRequest:
    """What a request asks, checked without the database; raises OcspRefusal."""
    if authority_id not in ISSUING_AUTHORITIES:
        raise OcspRefusal(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    if len(request_der) > MAX_REQUEST_BYTES:
        raise OcspRefusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        parsed = ParsedRequest(
            request.hash_algorithm.name,
            request.issuer_name_hash,
            request.issuer_key_hash,
            request.serial_number,
            _nonce(request),
        )
    except Exception:  # any parse failure (ValueError, unsupported algorithm) is malformed
        raise OcspRefusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST) from None
    if parsed.hash_name not in _HASHES:
        raise OcspRefusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    if parsed.nonce is not None and not 1 <= len(parsed.nonce) <= MAX_NONCE_OCTETS:
        raise OcspRefusal(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    return parsed


class _Unread:
    """The certificate row has not been read yet."""


class OcspResponder:
    def __init__(
        self, ca: CertificateAuthority, signers: service_signers.DelegatedSigners | None = None
    ) -> None:
        self.ca = ca
        self.signers = signers
        self._issuers: dict[str, _IssuerKeys] = {}

    def known_issuer(self, authority_id: str) -> _IssuerKeys | None:
        """The issuer's CertID hashes if they were loaded already (they never change)."""
        return self._issuers.get(authority_id)

    def _issuer_keys(self, session: Session, authority_id: str) -> _IssuerKeys:
        cached = self._issuers.get(authority_id)
        if cached is None:
            certificate = self.ca.authority(session, authority_id).certificate
            der = certificate.public_bytes(serialization.Encoding.DER)
            parsed = asn1_x509.Certificate.load(der)
            name_der = parsed.subject.dump()
            key_bits = parsed.public_key["public_key"].contents[1:]  # BIT STRING value, unused-bits byte off
            cached = _IssuerKeys(
                authority_id,
                {n: hashlib.new(n, name_der).digest() for n in _HASHES},
                {n: hashlib.new(n, key_bits).digest() for n in _HASHES},
            )
            self._issuers[authority_id] = cached
        return cached

    def respond(self, db: Database, authority_id: str, request_der: bytes) -> bytes:
        """A DER OCSPResponse for any input; protocol errors are responses too."""
        return self.answer(db, authority_id, request_der).der

    def answer(self, db: Database, authority_id: str, request_der: bytes) -> OcspAnswer:
        """Like ``respond``, saying whether (and until when) the answer may be kept and served again."""
        try:
            request = parse_request(authority_id, request_der)
        except OcspRefusal as refusal:
            return OcspAnswer(_REFUSALS.get(refusal.status) or error_response(refusal.status))
        hash_name, serial, nonce = request.hash_name, request.serial, request.nonce
        try:
            with db.reading() as session:
                keys = self._issuer_keys(session, authority_id)
                if (
                    keys.name_hashes[hash_name] != request.name_hash
                    or keys.key_hashes[hash_name] != request.key_hash
                ):
                    return OcspAnswer(UNAUTHORIZED)
                serial_text = serial_hex(serial)
                if nonce is None:
                    cached = repositories.cached_ocsp_response(session, authority_id, serial_text, hash_name)
                    if cached is not None and self._fresh(cached):
                        return _stored(cached, request)
                row = repositories.certificate_by_serial(session, serial_text)
                if nonce is not None or row is None:  # nothing worth storing: answer from the read session
                    produced = self._produce(session, authority_id, serial, hash_name, nonce, row=row)
                    return OcspAnswer(produced.der)
            with db.transaction() as session:
                return self._produce_and_store(session, authority_id, request)
        except ServiceError:
            return OcspAnswer(TRY_LATER)
        except Exception:  # a responder answers; the log keeps the details
            log.exception("OCSP response for the %s CA failed", authority_id)
            return OcspAnswer(INTERNAL_ERROR)

    def _fresh(self, row: OcspResponse) -> bool:
        now = self.ca.clock.now()
        return now < row.produced_at + (row.next_update - row.produced_at) / 2

    def produce_for(self, session: Session, serial: str, hash_name: str = "sha1") -> bytes:
        """Pre-produce and store the response for one certificate (used by `kyso ca ocsp-refresh`)."""
        row = repositories.certificate_by_serial(session, serial)
        if row is None:
            raise not_found(f"no certificate {serial}")
        return self._produce(session, row.authority_id, int(serial, 16), hash_name, None, store=True).der

    def _produce_and_store(self, session: Session, authority_id: str, request: ParsedRequest) -> OcspAnswer:
        produced = self._produce(session, authority_id, request.serial, request.hash_name, None, store=True)
        if not produced.stored:  # unknown serials are answered, not kept
            return OcspAnswer(produced.der)
        return OcspAnswer(produced.der, cert_id(request), produced.produced_at, produced.next_update)

    def _produce(
        self,
        session: Session,
        authority_id: str,
        serial: int,
        hash_name: str,
        nonce: bytes | None,
        *,
        store: bool = False,
        row: Certificate | type[_Unread] | None = _Unread,
    ) -> _Produced:
        serial_text = serial_hex(serial)
        # Storing, the row is locked: a status change waits for this transaction (or this one for it), so a
        # stale response is never stored after the change deleted the old one (PostgreSQL; SQLite's
        # writers are serialised anyway).
        if row is _Unread or store:
            row = repositories.certificate_by_serial(session, serial_text, for_update=store)
        assert not isinstance(row, type)
        now = self.ca.clock.now().replace(microsecond=0)
        next_update = now + self.ca.status_policy.ocsp_validity
        revocation_time: dt.datetime | None = None
        reason: x509.ReasonFlags | None = None
        if row is None or row.status == "reserved" or row.authority_id != authority_id:
            status, status_name = ocsp.OCSPCertStatus.UNKNOWN, "unknown"
        elif row.status == "revoked":
            status, status_name = ocsp.OCSPCertStatus.REVOKED, "revoked"
            revocation_time = row.revoked_at
            flag = REVOCATION_REASONS.get(row.revocation_reason or "")
            reason = flag if flag is not x509.ReasonFlags.unspecified else None
        elif row.status == "suspended":
            status, status_name = ocsp.OCSPCertStatus.REVOKED, "revoked"
            revocation_time, reason = row.suspended_at, x509.ReasonFlags.certificate_hold
        else:
            status, status_name = ocsp.OCSPCertStatus.GOOD, "good"
        keys = self._issuer_keys(session, authority_id)
        signer_id = f"ocsp-{authority_id}"
        if self.signers is not None:
            responder = self.signers.get(signer_id, lambda: contextlib.nullcontext(session)).delegated
        else:
            responder = service_signers.load(session, self.ca, signer_id)
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                keys.name_hashes[hash_name],
                keys.key_hashes[hash_name],
                serial,
                _HASHES[hash_name](),
                status,
                now,
                next_update,
                revocation_time,
                reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.certificate)
            .certificates([responder.certificate])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        der = responder.signer.sign_x509(builder, rsa_pss=False).public_bytes(serialization.Encoding.DER)
        stored = store and row is not None and status_name != "unknown"
        if stored:
            repositories.store_ocsp_response(
                session,
                OcspResponse(
                    serial=serial_text,
                    hash_algorithm=hash_name,
                    authority_id=authority_id,
                    cert_status=status_name,
                    produced_at=now,
                    next_update=next_update,
                    der=der,
                ),
            )
        return _Produced(der, now, next_update, stored)


@dataclass(frozen=True)
class _Produced:
    der: bytes
    produced_at: dt.datetime
    next_update: dt.datetime
    stored: bool


def cert_id(request: ParsedRequest) -> CertId:
    return (request.hash_name, request.name_hash, request.key_hash, request.serial)


def _stored(row: OcspResponse, request: ParsedRequest) -> OcspAnswer:
    return OcspAnswer(row.der, cert_id(request), row.produced_at, row.next_update)


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    if not len(request.extensions):
        return None
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
