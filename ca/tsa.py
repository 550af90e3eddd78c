"""Timestamp authority (RFC 3161, with the ESS signing-certificate-v2 attribute of RFC 5816).

A request is a DER ``TimeStampReq``; the answer is always a DER ``TimeStampResp``. Whatever a client
sends — garbage, truncated DER, an unsupported hash, an unknown policy — gets the protocol's own
rejection (PKIStatus rejection with a failInfo and a statusString), never an exception; so does a TSA
whose key or certificate is unavailable (systemFailure). The TSA writes nothing to the database: it reads
its delegated signer (``ca.service_signers``) and signs.

Token serial numbers are 128-bit values with the top bit set and 127 random bits from ``secrets``. RFC
3161 asks only that a serial be unique per TSA; with 127 random bits the chance that any two of 2**32
tokens (four billion — centuries at this service's rate) share a serial is below 2**-63, so uniqueness
needs neither a database round trip nor coordination between worker processes. The fixed top bit gives
every serial the same width (17 DER octets, within the 20 the RFC allows).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from ca import service_signers
from ca.issuance import CertificateAuthority
from core.clock import as_utc
from core.errors import Kind, ServiceError
from core.ids import serial_hex
from keystore import KeySigner
from keystore.algorithms import signature_hash
from store import repositories
from store.db import Database

log = logging.getLogger("kyso.tsa")

SIGNER_ID = "tsa"
POLICY_OID = "1.3.6.1.4.1.32473.1.2.2"  # the `tsa` profile's certificate policy, also the TSA policy
MAX_REQUEST_BYTES = 64 * 1024  # a TimeStampReq with a SHA-512 imprint and a nonce is under 120 bytes
ACCURACY_SECONDS = 1  # genTime is truncated to whole seconds
SERIAL_BITS = 128
# Imprint algorithms accepted, with their digest lengths: SHA-2 (and SHA-3, which Circular
# 15/2025/TT-BKHCN also allows) of at least 256 bits. SHA-1, MD5 and SHA-224 get badAlg.
IMPRINT_ALGORITHMS = {
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
}


class TimeStampResponse(core.Sequence):
    """``TimeStampResp`` with the token optional, as RFC 3161 has it (asn1crypto's requires it)."""

    _fields = [  # noqa: RUF012 — asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class TimestampRejected(ServiceError):
    """A request the TSA will not stamp, with the RFC 3161 failInfo that says why."""

    def __init__(self, fail_info: str, message: str) -> None:
        kind = Kind.UNAVAILABLE if fail_info == "system_failure" else Kind.MALFORMED
        super().__init__(kind, message, details={"fail_info": fail_info})
        self.fail_info = fail_info

    def response_der(self) -> bytes:
        status = tsp.PKIStatusInfo(
            {"status": "rejection", "status_string": [self.message], "fail_info": {self.fail_info}}
        )
        return TimeStampResponse({"status": status}).dump()


@dataclass(frozen=True)
class _Request:
    """What a valid request asks for, extracted before any database work."""

    message_imprint: tsp.MessageImprint
    nonce: int | None
    cert_req: bool


def _digest_algorithm(name: str) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm({"algorithm": name})


def _signature_algorithm(signer: KeySigner) -> algos.SignedDigestAlgorithm:
    digest = signature_hash(signer.algorithm).name
    if signer.algorithm.startswith("ec-"):
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    # KeySigner signs RSA with PSS: MGF1 over the same hash, salt as long as the digest.
    params = algos.RSASSAPSSParams(
        {
            "hash_algorithm": _digest_algorithm(digest),
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": _digest_algorithm(digest)},
            "salt_length": hashlib.new(digest).digest_size,
        }
    )
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})


def _check_imprint(hash_name: str, digest: bytes) -> None:
    expected = IMPRINT_ALGORITHMS.get(hash_name)
    if expected is None:
        raise TimestampRejected(
            "bad_alg",
            f"hash algorithm {hash_name} is not accepted; use one of {', '.join(IMPRINT_ALGORITHMS)}",
        )
    if len(digest) != expected:
        raise TimestampRejected(
            "bad_request", f"a {hash_name} imprint is {expected} bytes, this one is {len(digest)}"
        )


def parse_request(request_der: bytes) -> _Request:
    """Check a DER TimeStampReq completely, before anything is signed; raises TimestampRejected."""
    if len(request_der) > MAX_REQUEST_BYTES:
        raise TimestampRejected("bad_request", f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        version = request["version"].native
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]
        hash_name = algorithm["algorithm"].native
        parameters = algorithm["parameters"].dump()
        digest = imprint["hashed_message"].native
        policy = request["req_policy"].dotted if request["req_policy"].native is not None else None
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        has_extensions = bool(request["extensions"].native)
    except Exception:  # asn1crypto raises ValueError, TypeError, … on any malformed or truncated input
        raise TimestampRejected("bad_request", "the request is not a DER TimeStampReq") from None
    if version != "v1":
        raise TimestampRejected("bad_request", f"TimeStampReq version {version} is not supported; use 1")
    if parameters not in (b"", b"\x05\x00"):  # absent or NULL, as RFC 5754 and RFC 8702 have it
        raise TimestampRejected("bad_request", "the imprint's hash algorithm must have no parameters")
    _check_imprint(hash_name, digest)
    if policy is not None and policy != POLICY_OID:
        raise TimestampRejected("unaccepted_policy", f"this TSA stamps under policy {POLICY_OID} only")
    if has_extensions:
        raise TimestampRejected("unaccepted_extensions", "this TSA accepts no request extensions")
    return _Request(tsp.MessageImprint.load(imprint.dump()), nonce, cert_req)


class TimestampAuthority:
    """Stamps message imprints with the TSA key held by the keystore; thread-safe and stateless."""

    def __init__(self, ca: CertificateAuthority) -> None:
        self.ca = ca

    # --- the protocol: DER in, DER out, never an exception -------------------------------------------
    def respond(self, request_der: bytes, session: Session) -> bytes:
        """A DER TimeStampResp for any input, answered within ``session``."""
        return self._respond(request_der, lambda: contextlib.nullcontext(session))

    def serve(self, db: Database, request_der: bytes) -> bytes:
        """Like ``respond``, opening a read session only once the request has proved valid."""
        return self._respond(request_der, db.reading)

    def _respond(
        self, request_der: bytes, session_scope: Callable[[], AbstractContextManager[Session]]
    ) -> bytes:
        try:
            request = parse_request(request_der)
            with session_scope() as session:
                token = self._grant(session, request)
        except TimestampRejected as rejected:
            if rejected.fail_info == "system_failure":
                log.warning("timestamp refused: %s", rejected.message)
            return rejected.response_der()
        except Exception:  # a TSA answers; the log keeps the details
            log.exception("timestamping failed")
            return TimestampRejected("system_failure", "the timestamp authority failed").response_der()
        return TimeStampResponse(
            {"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token}
        ).dump()

    # --- in-process use (the signing pipeline) ------------------------------------------------------
    def timestamp(
        self, digest: bytes, hash_name: str, nonce: int | None, cert_req: bool, session: Session
    ) -> cms.ContentInfo:
        """A timestamp token over ``digest``; raises TimestampRejected (a ServiceError) if refused."""
        _check_imprint(hash_name, digest)
        imprint = tsp.MessageImprint(
            {"hash_algorithm": _digest_algorithm(hash_name), "hashed_message": digest}
        )
        return self._grant(session, _Request(imprint, nonce, cert_req))

    def process(self, request: tsp.TimeStampReq, session: Session) -> cms.ContentInfo:
        """A token for a parsed request (pyHanko hands these over); raises TimestampRejected if refused."""
        return self._grant(session, parse_request(request.dump()))

    # --- the token ----------------------------------------------------------------------------------
    def _grant(self, session: Session, request: _Request) -> cms.ContentInfo:
        try:
            delegated = service_signers.load(session, self.ca, SIGNER_ID)
        except ServiceError as exc:  # UNAVAILABLE says what to do; other kinds stay in the log
            if exc.kind is not Kind.UNAVAILABLE:
                log.error("the TSA signer cannot be loaded: %s", exc.message)
            reason = exc.message if exc.kind is Kind.UNAVAILABLE else "its key cannot be used"
            raise TimestampRejected(
                "system_failure", f"the timestamp authority is unavailable: {reason}"
            ) from exc
        now = as_utc(self.ca.clock.now()).replace(microsecond=0)
        certificate = delegated.certificate
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise TimestampRejected("system_failure", "the TSA certificate is not valid at this time")
        row = repositories.certificate_by_serial(session, serial_hex(certificate.serial_number))
        if row is None or row.status != "valid":
            raise TimestampRejected("system_failure", "the TSA certificate is not in good standing")

        tsa_cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        tst_info_args: dict[str, object] = {
            "version": "v1",
            "policy": POLICY_OID,
            "message_imprint": request.message_imprint,
            "serial_number": (1 << (SERIAL_BITS - 1)) | secrets.randbits(SERIAL_BITS - 1),
            "gen_time": now,
            "accuracy": {"seconds": ACCURACY_SECONDS},
            "tsa": asn1_x509.GeneralName({"directory_name": tsa_cert.subject}),
        }
        if request.nonce is not None:
            tst_info_args["nonce"] = request.nonce
        tst_info_der = tsp.TSTInfo(tst_info_args).dump()

        signer = delegated.signer
        digest_name = signature_hash(signer.algorithm).name
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [hashlib.new(digest_name, tst_info_der).digest()]},
                {"type": "signing_certificate_v2", "values": [_signing_certificate_v2(tsa_cert)]},
            ]
        )
        # The signature covers the attributes' DER as a SET OF (tag 0x31), not the [0] IMPLICIT form
        # they take inside SignerInfo; asn1crypto's SetOf sorts them into DER order.
        signature = signer.sign(signed_attrs.dump())
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": tsa_cert.issuer,
                            "serial_number": tsa_cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": _digest_algorithm(digest_name),
                "signed_attrs": signed_attrs,
                "signature_algorithm": _signature_algorithm(signer),
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [_digest_algorithm(digest_name)],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_info_der),
            },
            "signer_infos": [signer_info],
        }
        if request.cert_req:
            # The TSA certificate and the CAs above it, short of the root a relying party must already trust.
            intermediates = [
                asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                for c in delegated.chain
                if c.issuer != c.subject
            ]
            signed_data["certificates"] = [tsa_cert, *intermediates]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


def _signing_certificate_v2(certificate: asn1_x509.Certificate) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 naming the TSA certificate by its SHA-256 hash (the ESSCertIDv2 default)."""
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "cert_hash": hashlib.sha256(certificate.dump()).digest(),
                    "issuer_serial": {
                        "issuer": [asn1_x509.GeneralName({"directory_name": certificate.issuer})],
                        "serial_number": certificate.serial_number,
                    },
                }
            ]
        }
    )
