"""OCSP responder (RFC 6960) for the issuing CAs, signed by their delegated responder certificates.

Requests without a nonce — what browsers, PDF readers and caches send — are answered from responses
pre-produced per certificate and stored in ``ocsp_responses``; the hot path signs nothing. A response is
replaced when half its validity has passed, and deleted in the transaction that changes the certificate's
status, so the next request sees the change. A request with a nonce gets a freshly signed response that
echoes it (a nonce cannot be pre-produced). Malformed requests get the protocol's malformedRequest,
requests for an issuer this responder does not serve get unauthorized — never an exception.
"""

from __future__ import annotations

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
from store.models import OcspResponse

log = logging.getLogger("kyso.ocsp")
ISSUING_AUTHORITIES = ("citizen", "government")
MAX_REQUEST_BYTES = 16 * 1024
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class _IssuerKeys:
    authority_id: str
    name_hashes: dict[str, bytes]
    key_hashes: dict[str, bytes]


def _error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


class OcspResponder:
    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca
        self._issuers: dict[str, _IssuerKeys] = {}

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
        if authority_id not in ISSUING_AUTHORITIES:
            return _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        if len(request_der) > MAX_REQUEST_BYTES:
            return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            hash_name = request.hash_algorithm.name
            serial, name_hash, key_hash = (
                request.serial_number,
                request.issuer_name_hash,
                request.issuer_key_hash,
            )
            nonce = _nonce(request)
        except Exception:  # any parse failure (ValueError, unsupported algorithm) is malformed
            return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if hash_name not in _HASHES:
            return _error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            with db.reading() as session:
                keys = self._issuer_keys(session, authority_id)
                if keys.name_hashes[hash_name] != name_hash or keys.key_hashes[hash_name] != key_hash:
                    return _error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
                serial_text = serial_hex(serial)
                if nonce is None:
                    cached = repositories.cached_ocsp_response(session, serial_text, hash_name)
                    if cached is not None and self._fresh(cached):
                        return cached.der
                known = repositories.certificate_by_serial(session, serial_text) is not None
                if nonce is not None or not known:  # nothing worth storing: answer from the read session
                    return self._produce(session, authority_id, serial, hash_name, nonce)
            with db.transaction() as session:
                return self._produce(session, authority_id, serial, hash_name, None, store=True)
        except ServiceError:
            return _error(ocsp.OCSPResponseStatus.TRY_LATER)
        except Exception:  # a responder answers; the log keeps the details
            log.exception("OCSP response for the %s CA failed", authority_id)
            return _error(ocsp.OCSPResponseStatus.INTERNAL_ERROR)

    def _fresh(self, row: OcspResponse) -> bool:
        now = self.ca.clock.now()
        return now < row.produced_at + (row.next_update - row.produced_at) / 2

    def produce_for(self, session: Session, serial: str, hash_name: str = "sha1") -> bytes:
        """Pre-produce and store the response for one certificate (used by `kyso ca ocsp-refresh`)."""
        row = repositories.certificate_by_serial(session, serial)
        if row is None:
            raise not_found(f"no certificate {serial}")
        return self._produce(session, row.authority_id, int(serial, 16), hash_name, None, store=True)

    def _produce(
        self,
        session: Session,
        authority_id: str,
        serial: int,
        hash_name: str,
        nonce: bytes | None,
        *,
        store: bool = False,
    ) -> bytes:
        serial_text = serial_hex(serial)
        row = repositories.certificate_by_serial(session, serial_text)
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
        responder = service_signers.load(session, self.ca, f"ocsp-{authority_id}")
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
        if store and row is not None and status_name != "unknown":
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
        return der


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
