"""Key algorithms Kyso accepts and how each signs (Circular 15/2025/TT-BKHCN: ECDSA ≥ 256, RSA-PSS ≥ 2048)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from core.errors import malformed

ALGORITHMS = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096")
_CURVES: dict[str, type[ec.EllipticCurve]] = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1}
_CURVE_NAMES = {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}
_RSA_SIZES = {2048: "rsa-2048", 3072: "rsa-3072", 4096: "rsa-4096"}


def generate_private_key(algorithm: str) -> PrivateKeyTypes:
    if algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[algorithm]())
    if algorithm.startswith("rsa-") and algorithm in ALGORITHMS:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise malformed(f"unsupported key algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def algorithm_of(public_key: PublicKeyTypes) -> str:
    """Name a public key's algorithm, refusing weak or unsupported keys with a message saying why."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = _CURVE_NAMES.get(public_key.curve.name)
        if name is None:
            raise malformed(f"elliptic curve {public_key.curve.name} is not supported; use P-256 or P-384")
        return name
    if isinstance(public_key, rsa.RSAPublicKey):
        size = public_key.key_size
        if size < 2048:
            raise malformed(f"RSA-{size} is too weak; RSA keys need at least 2048 bits")
        if size not in _RSA_SIZES:
            raise malformed(f"RSA-{size} is not supported; use 2048, 3072 or 4096 bits")
        if public_key.public_numbers().e != 65537:
            raise malformed("RSA keys must use the public exponent 65537")
        return _RSA_SIZES[size]
    raise malformed(
        f"{type(public_key).__name__.removeprefix('_')} keys are not supported; use ECDSA P-256/P-384 or RSA"
    )


def signature_hash(algorithm: str) -> hashes.HashAlgorithm:
    return hashes.SHA256() if algorithm in ("ec-p256", "rsa-2048") else hashes.SHA384()


def rsa_pss_padding(algorithm: str) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(signature_hash(algorithm)), salt_length=padding.PSS.DIGEST_LENGTH)
