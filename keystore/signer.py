"""The one door to private keys: a signer that signs bytes and X.509 structures, never showing its key."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from keystore.algorithms import algorithm_of, rsa_pss_padding, signature_hash

Signed = TypeVar("Signed")
Signed_co = TypeVar("Signed_co", covariant=True)


class X509Builder(Protocol[Signed_co]):  # CertificateBuilder, CertificateRevocationListBuilder, …
    # Each builder's sign() takes its own key types and keyword arguments; only the result matters here.
    def sign(self, *args: Any, **kwargs: Any) -> Signed_co: ...


class KeySigner:
    """Holds a private key in memory for as long as the process needs it; hands out only signatures."""

    __slots__ = ("__key", "algorithm", "key_id")

    def __init__(self, private_key: PrivateKeyTypes, key_id: str | None = None) -> None:
        self.__key = private_key
        self.key_id = key_id
        self.algorithm = algorithm_of(private_key.public_key())

    def public_key(self) -> PublicKeyTypes:
        return self.__key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the key's scheme: ECDSA (DER signature) or RSASSA-PSS."""
        key = self.__key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(signature_hash(self.algorithm)))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, rsa_pss_padding(self.algorithm), signature_hash(self.algorithm))
        raise TypeError(f"unsupported key type {type(key).__name__}")

    def sign_prehashed(self, digest: bytes) -> bytes:
        """Sign a digest computed elsewhere (CSC signHash): the same scheme as ``sign``."""
        key = self.__key
        prehashed = utils.Prehashed(signature_hash(self.algorithm))
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(digest, ec.ECDSA(prehashed))
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(digest, rsa_pss_padding(self.algorithm), prehashed)
        raise TypeError(f"unsupported key type {type(key).__name__}")

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Check a signature this key made (its public half only)."""
        public_key = self.__key.public_key()
        try:
            if isinstance(public_key, ec.EllipticCurvePublicKey):
                public_key.verify(signature, data, ec.ECDSA(signature_hash(self.algorithm)))
            elif isinstance(public_key, rsa.RSAPublicKey):
                public_key.verify(
                    signature, data, rsa_pss_padding(self.algorithm), signature_hash(self.algorithm)
                )
            else:
                return False
        except InvalidSignature:
            return False
        return True

    def sign_x509(self, builder: X509Builder[Signed], *, rsa_pss: bool = True) -> Signed:
        """Sign a certificate, CRL, CSR or OCSP builder with this key.

        RSA keys sign with PSS, except where the builder cannot (cryptography's OCSP builder signs
        PKCS#1 v1.5 only; callers pass ``rsa_pss=False`` there).
        """
        if isinstance(self.__key, rsa.RSAPrivateKey) and rsa_pss:
            return builder.sign(
                self.__key, signature_hash(self.algorithm), rsa_padding=rsa_pss_padding(self.algorithm)
            )
        return builder.sign(self.__key, signature_hash(self.algorithm))

    def __repr__(self) -> str:
        return f"KeySigner({self.algorithm}, key_id={self.key_id!r})"


def public_key_of(certificate: x509.Certificate) -> PublicKeyTypes:
    return certificate.public_key()
