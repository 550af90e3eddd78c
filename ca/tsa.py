"""Timestamp authority (RFC 3161, with the ESS signing-certificate-v2 attribute of RFC 5816).

A request is a DER ``TimeStampReq``; the answer is always a DER ``TimeStampResp``. Whatever a client
sends — garbage, truncated DER, an unsupported hash, an unknown policy — gets the protocol's own
rejection (PKIStatus rejection with a failInfo and a statusString), never an exception; so does a TSA
whose key or certificate is unavailable (systemFailure). The TSA writes nothing to the database: it reads
its delegated signer (``ca.service_signers``), keeps it per process while its status stands, and signs.

Token serial numbers are 128-bit values with the top bit set and 127 random bits from ``secrets``. RFC
3161 asks only that a serial be unique per TSA; with 127 random bits the chance that any two of 2**32
tokens (four billion — centuries at this service's rate) share a serial is below 2**-63, so uniqueness
needs neither a database round trip nor coordination between worker processes. The fixed top bit gives
every serial the same width (17 DER octets, within the 20 the RFC allows).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from ca import service_signers
from ca.issuance import CertificateAuthority
from core import metrics
from core.clock import as_utc
from core.errors import Kind, ServiceError
from keystore import Signer
from keystore.algorithms import signature_hash
from store.db import Database

log = logging.getLogger("kyso.tsa")

SIGNER_ID = "tsa"
POLICY_OID = "1.3.6.1.4.1.32473.1.2.2"  # the `tsa` profile's certificate policy, also the TSA policy
MAX_REQUEST_BYTES = 64 * 1024  # a TimeStampReq with a SHA-512 imprint and a nonce is under 120 bytes
ACCURACY_SECONDS = 1  # genTime is truncated to whole seconds
SERIAL_BITS = 128
# A nonce is a positive INTEGER (RFC 3161 §2.4.1: "a large random number"); 32 octets of it (256 bits) are
# far more than uniqueness needs, and a TSA echoing whatever it is sent lets a client inflate every token.
MAX_NONCE_OCTETS = 32
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


def _signature_algorithm(signer: Signer) -> algos.SignedDigestAlgorithm:
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


def _check_nonce(nonce: int | None) -> None:
    if nonce is not None and not 0 < nonce < 1 << (8 * MAX_NONCE_OCTETS):
        raise TimestampRejected(
            "bad_request", f"the nonce must be a positive integer of at most {MAX_NONCE_OCTETS} octets"
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
    _check_nonce(nonce)
    if policy is not None and policy != POLICY_OID:
        raise TimestampRejected("unaccepted_policy", f"this TSA stamps under policy {POLICY_OID} only")
    if has_extensions:
        raise TimestampRejected("unaccepted_extensions", "this TSA accepts no request extensions")
    return _Request(tsp.MessageImprint.load(imprint.dump()), nonce, cert_req)


class TimestampAuthority:
    """Stamps message imprints with the TSA key held by the keystore; thread-safe.

    Per process it keeps the TSA's signer, certificate, chain and status (``service_signers.
    DelegatedSigners``, reloaded when the status version of the TSA certificate's issuer moves, so a
    revoked or suspended TSA stops at the next request) and the constant parts of every token, encoded
    once (``_TokenTemplate``). A token then costs one signature and a few hundred bytes of DER.
    """

    def __init__(
        self, ca: CertificateAuthority, signers: service_signers.DelegatedSigners | None = None
    ) -> None:
        self.ca = ca
        self.signers = signers or service_signers.DelegatedSigners(ca)
        self._template: _TokenTemplate | None = None

    # --- the protocol: DER in, DER out, never an exception -------------------------------------------
    def respond(self, request_der: bytes, session: Session) -> bytes:
        """A DER TimeStampResp for any input, answered within ``session``."""
        return self._respond(request_der, lambda: contextlib.nullcontext(session))

    def serve(self, db: Database, request_der: bytes) -> bytes:
        """Like ``respond``; a database session is opened only if the TSA's standing must be read again."""
        return self._respond(request_der, db.reading)

    def _respond(
        self, request_der: bytes, session_scope: Callable[[], AbstractContextManager[Session]]
    ) -> bytes:
        started = time.perf_counter()
        try:
            token = self._token(session_scope, parse_request(request_der))
        except TimestampRejected as rejected:
            if rejected.fail_info == "system_failure":
                log.warning("timestamp refused: %s", rejected.message)
            _measured(started, rejected.fail_info)
            return rejected.response_der()
        except Exception:  # a TSA answers; the log keeps the details
            log.exception("timestamping failed")
            _measured(started, "system_failure")
            return TimestampRejected("system_failure", "the timestamp authority failed").response_der()
        _measured(started, "granted")
        return _tlv(0x30, _GRANTED + token)

    # --- in-process use (the signing pipeline) ------------------------------------------------------
    def timestamp(
        self, digest: bytes, hash_name: str, nonce: int | None, cert_req: bool, session: Session
    ) -> cms.ContentInfo:
        """A timestamp token over ``digest``; raises TimestampRejected (a ServiceError) if refused."""
        _check_imprint(hash_name, digest)
        _check_nonce(nonce)
        imprint = tsp.MessageImprint(
            {"hash_algorithm": _digest_algorithm(hash_name), "hashed_message": digest}
        )
        started = time.perf_counter()
        try:
            token = self._token(lambda: contextlib.nullcontext(session), _Request(imprint, nonce, cert_req))
        except TimestampRejected as rejected:
            _measured(started, rejected.fail_info)
            raise
        _measured(started, "granted")
        return cms.ContentInfo.load(token)

    def process(self, request: tsp.TimeStampReq, session: Session) -> cms.ContentInfo:
        """A token for a parsed request (pyHanko hands these over); raises TimestampRejected if refused."""
        started = time.perf_counter()
        try:
            token = self._token(lambda: contextlib.nullcontext(session), parse_request(request.dump()))
        except TimestampRejected as rejected:
            _measured(started, rejected.fail_info)
            raise
        _measured(started, "granted")
        return cms.ContentInfo.load(token)

    # --- the token ----------------------------------------------------------------------------------
    def _token(
        self, session_scope: Callable[[], AbstractContextManager[Session]], request: _Request
    ) -> bytes:
        template = self._usable_template(session_scope)
        now = as_utc(self.ca.clock.now()).replace(microsecond=0)
        if not template.not_before <= now <= template.not_after:
            raise TimestampRejected("system_failure", "the TSA certificate is not valid at this time")
        return template.token(request, now)

    def _usable_template(
        self, session_scope: Callable[[], AbstractContextManager[Session]]
    ) -> _TokenTemplate:
        try:
            standing = self.signers.get(SIGNER_ID, session_scope)
        except ServiceError as exc:  # UNAVAILABLE says what to do; other kinds stay in the log
            if exc.kind is not Kind.UNAVAILABLE:
                log.error("the TSA signer cannot be loaded: %s", exc.message)
            reason = exc.message if exc.kind is Kind.UNAVAILABLE else "its key cannot be used"
            raise TimestampRejected(
                "system_failure", f"the timestamp authority is unavailable: {reason}"
            ) from exc
        if standing.certificate_status != "valid":
            raise TimestampRejected("system_failure", "the TSA certificate is not in good standing")
        template = self._template
        if template is None or template.standing is not standing:
            template = self._template = _TokenTemplate(standing)
        return template


def _measured(started: float, outcome: str) -> None:
    """Report one request's outcome (granted, or the failInfo of a rejection) and how long it took."""
    metrics.observe("tsa.token", time.perf_counter() - started, outcome=outcome)


class _TokenTemplate:
    """The parts of a timestamp token that are the same in every token of one TSA certificate, in DER.

    asn1crypto re-encodes nested structures it is handed (the certificates above all): building the
    token through it cost ~35 ms. Here only the TSTInfo and the signed attributes change per token, and
    they are a few hundred bytes assembled around pre-encoded parts.
    """

    def __init__(self, standing: service_signers.Standing) -> None:
        delegated = standing.delegated
        self.standing = standing
        self.signer = delegated.signer
        certificate = delegated.certificate
        self.not_before = certificate.not_valid_before_utc
        self.not_after = certificate.not_valid_after_utc
        tsa_cert = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        self.digest_name = signature_hash(self.signer.algorithm).name
        self.digest_algorithm = _digest_algorithm(self.digest_name).dump()
        self.signature_algorithm = _signature_algorithm(self.signer).dump()
        self.policy = core.ObjectIdentifier(POLICY_OID).dump()
        self.accuracy = tsp.Accuracy({"seconds": ACCURACY_SECONDS}).dump()
        # tsa [0] GeneralName: an explicit tag, GeneralName being a CHOICE
        self.tsa_name = _tlv(0xA0, asn1_x509.GeneralName({"directory_name": tsa_cert.subject}).dump())
        self.content_type_attribute = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()
        self.signing_certificate_attribute = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [_signing_certificate_v2(tsa_cert)]}
        ).dump()
        self.sid = cms.IssuerAndSerialNumber(
            {"issuer": tsa_cert.issuer, "serial_number": tsa_cert.serial_number}
        ).dump()
        # The TSA certificate and the CAs above it, short of the root a relying party must already trust.
        intermediates = [
            c.public_bytes(serialization.Encoding.DER) for c in delegated.chain if c.issuer != c.subject
        ]
        self.certificates = _tlv(0xA0, tsa_cert.dump() + b"".join(intermediates))

    def token(self, request: _Request, now: dt.datetime) -> bytes:
        """A ContentInfo (SignedData over a TSTInfo) in DER."""
        serial = (1 << (SERIAL_BITS - 1)) | secrets.randbits(SERIAL_BITS - 1)
        tst_info = _tlv(
            0x30,
            b"".join(
                (
                    b"\x02\x01\x01",  # version v1
                    self.policy,
                    request.message_imprint.dump(),
                    _integer(serial),
                    _tlv(0x18, now.strftime("%Y%m%d%H%M%SZ").encode()),
                    self.accuracy,
                    b"" if request.nonce is None else _integer(request.nonce),
                    self.tsa_name,
                )
            ),
        )
        message_digest = _tlv(
            0x30,
            _MESSAGE_DIGEST_OID + _tlv(0x31, _tlv(0x04, hashlib.new(self.digest_name, tst_info).digest())),
        )
        # DER orders a SET OF by the encodings; the signature covers the SET (tag 0x31), and SignerInfo
        # carries the same content under [0] IMPLICIT.
        attributes = b"".join(
            sorted((self.content_type_attribute, message_digest, self.signing_certificate_attribute))
        )
        signature = self.signer.sign(_tlv(0x31, attributes))
        signer_info = _tlv(
            0x30,
            b"".join(
                (
                    b"\x02\x01\x01",  # version v1: the signer is named by issuer and serial number
                    self.sid,
                    self.digest_algorithm,
                    _tlv(0xA0, attributes),
                    self.signature_algorithm,
                    _tlv(0x04, signature),
                )
            ),
        )
        encapsulated = _tlv(0x30, _TST_INFO_OID + _tlv(0xA0, _tlv(0x04, tst_info)))
        signed_data = _tlv(
            0x30,
            b"".join(
                (
                    b"\x02\x01\x03",  # version v3: the content type is not id-data
                    _tlv(0x31, self.digest_algorithm),
                    encapsulated,
                    self.certificates if request.cert_req else b"",
                    _tlv(0x31, signer_info),
                )
            ),
        )
        return _tlv(0x30, _SIGNED_DATA_OID + _tlv(0xA0, signed_data))


_GRANTED = tsp.PKIStatusInfo({"status": "granted"}).dump()
_TST_INFO_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.1.4").dump()
_SIGNED_DATA_OID = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, definite length, content."""
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


def _integer(value: int) -> bytes:
    """A DER INTEGER: two's complement, as few octets as keep the sign."""
    size = (value.bit_length() + 8) // 8 if value >= 0 else ((-value - 1).bit_length() + 8) // 8
    return _tlv(0x02, value.to_bytes(size, "big", signed=True))


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
