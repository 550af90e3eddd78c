"""X.509 structures signed by a key that never leaves its device.

cryptography's builders (certificates, CRLs, CSRs, OCSP responses) sign only with a private-key object.
For a key held elsewhere (a PKCS#11 token) the builder signs with a throwaway software key of the same
algorithm, so the structure already names the right signature algorithm and parameters; then its
to-be-signed bytes go to the real key and the real signature replaces the throwaway one. The result is
checked against the real public key before it is returned, so a structure that does not verify never
leaves this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509 import ocsp

from core.errors import Kind, ServiceError
from keystore.algorithms import generate_private_key, rsa_pss_padding, signature_hash
from keystore.signer import KeySigner, X509Builder

Scheme = Literal["ecdsa", "rsa-pss", "rsa-pkcs1v15"]
SignTbs = Callable[[bytes, Scheme], bytes]  # (to-be-signed bytes, scheme) -> signature value
Signed = TypeVar("Signed")

_throwaway_keys: dict[str, PrivateKeyTypes] = {}
_stand_ins: dict[tuple[bytes, int], x509.Certificate] = {}
_throwaway_lock = threading.Lock()


def scheme_for(algorithm: str, *, rsa_pss: bool) -> Scheme:
    if algorithm.startswith("ec-"):
        return "ecdsa"
    return "rsa-pss" if rsa_pss else "rsa-pkcs1v15"


def sign_x509_with(
    builder: X509Builder[Signed],
    algorithm: str,
    public_key: PublicKeyTypes,
    sign_tbs: SignTbs,
    *,
    rsa_pss: bool = True,
) -> Signed:
    """Build ``builder`` and sign its TBS bytes with ``sign_tbs``; the result verifies with ``public_key``."""
    throwaway = _throwaway_key(algorithm)
    trial_builder, responder = _with_stand_in_responder(builder, throwaway)
    trial = KeySigner(throwaway).sign_x509(trial_builder, rsa_pss=rsa_pss)
    tbs, assemble = _split(trial, public_key, responder)
    scheme = scheme_for(algorithm, rsa_pss=rsa_pss)
    signature = sign_tbs(tbs, scheme)
    if not verifies(public_key, algorithm, scheme, tbs, signature):
        raise ServiceError(
            Kind.INTERNAL, "the key's signature does not verify with its public key; it was not used"
        )
    signed = _load_like(trial, assemble(signature))
    if _tbs_bytes(signed) != tbs:
        raise ServiceError(Kind.INTERNAL, "re-encoding changed the signed part of the structure")
    return signed  # type: ignore[return-value]


def verifies(
    public_key: PublicKeyTypes, algorithm: str, scheme: Scheme, data: bytes, signature: bytes
) -> bool:
    digest = signature_hash(algorithm)
    try:
        if scheme == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(digest))
        elif scheme == "rsa-pss" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, rsa_pss_padding(algorithm), digest)
        elif scheme == "rsa-pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _throwaway_key(algorithm: str) -> PrivateKeyTypes:
    """One software key per algorithm and process; it signs only trial structures, which are discarded."""
    key = _throwaway_keys.get(algorithm)
    if key is None:
        with _throwaway_lock:
            key = _throwaway_keys.setdefault(algorithm, generate_private_key(algorithm))
    return key


def _with_stand_in_responder(
    builder: object, throwaway: PrivateKeyTypes
) -> tuple[object, x509.Certificate | None]:
    """For OCSP: the same builder, its responder certificate swapped for one with the throwaway key.

    cryptography's OCSP builder refuses a key that does not match the responder certificate, and offers
    no public way to swap it, hence its private attributes (tests/keystore/test_pkcs11.py signs OCSP
    responses through a token, so a cryptography release that renames them fails there first).
    """
    if not isinstance(builder, ocsp.OCSPResponseBuilder):
        return builder, None
    responder, encoding = builder._responder_id
    stand_in = _stand_in_certificate(responder, throwaway)
    swapped = ocsp.OCSPResponseBuilder(
        builder._response,
        (stand_in, encoding),
        builder._certs,
        builder._extensions,
    )
    return swapped, responder


def _stand_in_certificate(responder: x509.Certificate, throwaway: PrivateKeyTypes) -> x509.Certificate:
    key = (responder.fingerprint(hashes.SHA256()), id(throwaway))
    cached = _stand_ins.get(key)
    if cached is None:
        builder = (
            x509.CertificateBuilder()
            .subject_name(responder.subject)
            .issuer_name(responder.subject)
            .public_key(throwaway.public_key())
            .serial_number(1)
            .not_valid_before(responder.not_valid_before_utc)
            .not_valid_after(responder.not_valid_after_utc)
        )
        cached = KeySigner(throwaway).sign_x509(builder)
        with _throwaway_lock:
            _stand_ins[key] = cached
    return cached


def _split(
    trial: object, public_key: PublicKeyTypes, responder: x509.Certificate | None
) -> tuple[bytes, Callable[[bytes], bytes]]:
    """The bytes the real key signs, and how to assemble the structure around its signature.

    Certificates, CRLs, CSRs and BasicOCSPResponses are all SEQUENCE { tbs, signatureAlgorithm,
    signature BIT STRING, … }; an OCSPResponse wraps the BasicOCSPResponse in
    SEQUENCE { status, [0] EXPLICIT SEQUENCE { responseType, OCTET STRING } }. Only the signature
    changes, and what names the throwaway key: a CSR's public key, an OCSP responder's key hash; every
    other element keeps its bytes.
    """
    der = trial.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    if isinstance(trial, ocsp.OCSPResponse) and responder is not None:
        status, explicit = _children(der)
        (response_bytes,) = _children(explicit)
        response_type, octets = _children(response_bytes)
        tbs, algorithm, _, *certs = _children(_content(octets))
        # byKey [2] holds the stand-in's key hash: put the real responder's back (byName [1] is right)
        key_hash = x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
        tbs = _tlv(0x30, *(_tlv(0xA2, _tlv(0x04, key_hash)) if c[0] == 0xA2 else c for c in _children(tbs)))

        def assemble(signature: bytes) -> bytes:
            basic = _tlv(0x30, tbs, algorithm, _bit_string(signature), *certs)
            return _tlv(0x30, status, _tlv(0xA0, _tlv(0x30, response_type, _tlv(0x04, basic))))

        return tbs, assemble
    tbs, algorithm, _, *rest = _children(der)
    if isinstance(trial, x509.CertificateSigningRequest):  # the builder took the throwaway's public key
        version, subject, _, *attributes = _children(tbs)
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tbs = _tlv(0x30, version, subject, spki, *attributes)
    return tbs, lambda signature: _tlv(0x30, tbs, algorithm, _bit_string(signature), *rest)


def _header(der: bytes, offset: int) -> tuple[int, int]:
    """Where the contents of the DER element at ``offset`` start and end (one-byte tags only)."""
    length, offset = der[offset + 1], offset + 2
    if length & 0x80:
        size = length & 0x7F
        length, offset = int.from_bytes(der[offset : offset + size], "big"), offset + size
    return offset, offset + length


def _children(element: bytes) -> list[bytes]:
    start, end = _header(element, 0)
    children = []
    while start < end:
        _, child_end = _header(element, start)
        children.append(element[start:child_end])
        start = child_end
    return children


def _content(element: bytes) -> bytes:
    start, end = _header(element, 0)
    return element[start:end]


def _tlv(tag: int, *contents: bytes) -> bytes:
    body = b"".join(contents)
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _bit_string(value: bytes) -> bytes:
    return _tlv(0x03, b"\x00", value)


def _load_like(trial: object, der: bytes) -> object:
    if isinstance(trial, x509.Certificate):
        return x509.load_der_x509_certificate(der)
    if isinstance(trial, x509.CertificateRevocationList):
        return x509.load_der_x509_crl(der)
    if isinstance(trial, x509.CertificateSigningRequest):
        return x509.load_der_x509_csr(der)
    return ocsp.load_der_ocsp_response(der)


def _tbs_bytes(signed: object) -> bytes:
    if isinstance(signed, x509.Certificate):
        return signed.tbs_certificate_bytes
    if isinstance(signed, x509.CertificateRevocationList):
        return signed.tbs_certlist_bytes
    if isinstance(signed, x509.CertificateSigningRequest):
        return signed.tbs_certrequest_bytes
    return signed.tbs_response_bytes  # type: ignore[attr-defined]
