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

from asn1crypto import core, crl, csr
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
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
    structure, tbs = _signed_structure(trial, responder)
    scheme = scheme_for(algorithm, rsa_pss=rsa_pss)
    signature = sign_tbs(tbs, scheme)
    if not verifies(public_key, algorithm, scheme, tbs, signature):
        raise ServiceError(
            Kind.INTERNAL, "the key's signature does not verify with its public key; it was not used"
        )
    signed = _load_like(trial, _splice(trial, structure, signature))
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
    no public way to swap it, hence the private attributes (pinned by the tests of this module).
    """
    if not isinstance(builder, ocsp.OCSPResponseBuilder):
        return builder, None
    responder, encoding = builder._responder_id  # type: ignore[attr-defined,misc]
    stand_in = _stand_in_certificate(responder, throwaway)
    swapped = ocsp.OCSPResponseBuilder(
        builder._response,  # type: ignore[attr-defined]
        (stand_in, encoding),
        builder._certs,  # type: ignore[attr-defined]
        builder._extensions,  # type: ignore[attr-defined]
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
            .public_key(throwaway.public_key())  # type: ignore[arg-type]
            .serial_number(1)
            .not_valid_before(responder.not_valid_before_utc)
            .not_valid_after(responder.not_valid_after_utc)
        )
        cached = KeySigner(throwaway).sign_x509(builder)
        with _throwaway_lock:
            _stand_ins[key] = cached
    return cached


def _signed_structure(trial: object, responder: x509.Certificate | None) -> tuple[core.Sequence, bytes]:
    """The asn1crypto structure that carries the signature, and the bytes the real key must sign."""
    der = trial.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
    if isinstance(trial, x509.Certificate):
        return asn1_x509.Certificate.load(der), trial.tbs_certificate_bytes
    if isinstance(trial, x509.CertificateRevocationList):
        return crl.CertificateList.load(der), trial.tbs_certlist_bytes
    if isinstance(trial, x509.CertificateSigningRequest):
        return csr.CertificationRequest.load(der), trial.tbs_certrequest_bytes
    if isinstance(trial, ocsp.OCSPResponse) and responder is not None:
        response = asn1_ocsp.OCSPResponse.load(der)
        basic = response["response_bytes"]["response"].parsed
        data = basic["tbs_response_data"]
        if data["responder_id"].name == "by_key":  # the stand-in's key hash: put the real responder's back
            real = asn1_x509.Certificate.load(responder.public_bytes(serialization.Encoding.DER))
            data["responder_id"] = asn1_ocsp.ResponderId({"by_key": real.public_key.sha1})
        return response, data.dump()
    raise TypeError(f"cannot sign a {type(trial).__name__} outside the process")


def _splice(trial: object, structure: core.Sequence, signature: bytes) -> bytes:
    """``structure`` with ``signature`` in place of the throwaway key's; other fields keep their encoding."""
    if isinstance(trial, x509.Certificate):
        structure["signature_value"] = signature
    elif isinstance(trial, ocsp.OCSPResponse):
        basic = structure["response_bytes"]["response"].parsed
        basic["signature"] = signature
        structure["response_bytes"]["response"] = basic
    else:
        structure["signature"] = signature
    return structure.dump()


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
