"""The pass signer (what signs guests' pass tokens) and the key set desks trust (what verifies them).

(Three things in Kyso are "seals" in the everyday sense; each has its own name: an agency's e-seal on a
PDF is ``signing.seals.DocumentSealer``, the audit chain's is ``identity.audit.seal``/``SealRecord``, and
the key that signs passes is this module's ``PassSigner``, whose certificate is the "invitation-seal"
service signer's.)

invitations/ never holds a private key and never imports ca/: api/ and cli/ load the "invitation-seal"
service signer and hand over ``PassSigner(sign=…, certificate=…)``, where ``sign`` returns a DER ECDSA
signature (what ``keystore.KeySigner.sign`` gives); COSE wants the raw ``r || s`` form, converted here,
with s made low (``CURVE_ORDERS``); verifiers take only that form (``canonical_der``).

A key id (``kid``) is the first 8 bytes of the SHA-256 of the seal certificate (DER), as in the EU DCC.
Desks trust keys by kid from a ``KeySet``; a retired key stays listed as retired, so a token under it is
refused as "unknown key" — the same answer as a key never seen, which is what the guard needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

KID_LENGTH = 8
ALG_ES256 = -7
ALG_ES384 = -35
# COSE algorithm → (curve name, coordinate size in bytes, hash)
ALGORITHMS: dict[int, tuple[str, int, str]] = {
    ALG_ES256: ("secp256r1", 32, "sha256"),
    ALG_ES384: ("secp384r1", 48, "sha384"),
}
ALGORITHM_NAMES = {ALG_ES256: "ES256", ALG_ES384: "ES384"}
# The order n of each curve's base point (SEC 2 §2.4.2, §2.5.1). ECDSA signatures are malleable: if (r, s)
# verifies, so does (r, n − s). Kyso signs only with s ≤ n/2 ("low s") and accepts only that form, so a
# signed text has one encoding and nobody can make a second, different one that verifies.
CURVE_ORDERS: dict[int, int] = {
    ALG_ES256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ALG_ES384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}


def raw_signature(alg: int, der: bytes) -> bytes:
    """A DER ECDSA signature as COSE's ``r || s`` (each left-padded to the curve's size), with s made low."""
    size, order = ALGORITHMS[alg][1], CURVE_ORDERS[alg]
    r, s = decode_dss_signature(der)
    if s > order // 2:
        s = order - s
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def canonical_der(alg: int, raw: bytes) -> bytes | None:
    """COSE's ``r || s`` as DER for verifying, or None unless it is the one canonical form: the curve's
    size, 0 < r < n and 0 < s ≤ n/2."""
    size, order = ALGORITHMS[alg][1], CURVE_ORDERS[alg]
    if len(raw) != 2 * size:
        return None
    r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    if not (0 < r < order and 0 < s <= order // 2):
        return None
    return encode_dss_signature(r, s)


def kid_of(certificate: x509.Certificate) -> bytes:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:KID_LENGTH]


def algorithm_for(public_key: object) -> int:
    """ES256 for a P-256 key, ES384 for P-384; other keys cannot seal invitations (QR size, DCC practice)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for alg, (curve, _, _) in ALGORITHMS.items():
            if public_key.curve.name == curve:
                return alg
    raise ValueError("the invitation seal needs an ECDSA P-256 or P-384 key")


@dataclass(frozen=True)
class PassSigner:
    """Signs pass tokens: a signing callable (DER ECDSA out) and the invitation-seal certificate."""

    sign_der: Callable[[bytes], bytes]
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()  # the issuing CA first, up to the root (for desk bundles)

    @property
    def kid(self) -> bytes:
        return kid_of(self.certificate)

    @property
    def alg(self) -> int:
        return algorithm_for(self.certificate.public_key())

    def sign(self, data: bytes) -> bytes:
        """The COSE signature: ``r || s``, each left-padded to the curve's size, s low (≤ n/2)."""
        return raw_signature(self.alg, self.sign_der(data))

    def trusted_key(self) -> TrustedKey:
        return TrustedKey.from_certificate(self.certificate)


@dataclass(frozen=True)
class TrustedKey:
    kid: bytes
    alg: int
    public_key: ec.EllipticCurvePublicKey
    certificate: x509.Certificate | None = None
    retired: bool = False

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate, *, retired: bool = False) -> TrustedKey:
        public_key = certificate.public_key()
        return cls(kid_of(certificate), algorithm_for(public_key), public_key, certificate, retired)  # type: ignore[arg-type]


@dataclass(frozen=True)
class KeySet:
    """Keys by kid. ``active`` verify tokens; ``retired`` are remembered only to say so in the detail."""

    keys: dict[bytes, TrustedKey] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: Iterable[TrustedKey]) -> KeySet:
        return cls({key.kid: key for key in keys})

    def active(self, kid: bytes) -> TrustedKey | None:
        key = self.keys.get(kid)
        return key if key is not None and not key.retired else None

    def is_retired(self, kid: bytes) -> bool:
        key = self.keys.get(kid)
        return key is not None and key.retired

    def active_keys(self) -> list[TrustedKey]:
        return [key for key in self.keys.values() if not key.retired]
