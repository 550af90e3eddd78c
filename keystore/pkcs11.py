"""Key custody in a PKCS#11 token (an HSM, or SoftHSM2 for tests): keys are made there and never leave.

Keys are generated inside the token as token objects that are sensitive and never extractable, with
CKA_ID and CKA_LABEL set to Kyso's key id; the ``keys`` row keeps the public key and no private part.
Signing hashes in software and sends only the digest (CKM_ECDSA, CKM_RSA_PKCS_PSS), so it works with any
token that has the raw mechanisms; RSA PKCS#1 v1.5 (OCSP responses only) uses CKM_SHA*_RSA_PKCS.
"""

from __future__ import annotations

import threading

from asn1crypto import core
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag
from pkcs11.util.ec import encode_named_curve_parameters
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError, malformed
from core.ids import new_id
from keystore.algorithms import ALGORITHMS, algorithm_of, signature_hash
from keystore.pkcs11_token import (
    TokenConfig,
    TokenConnection,
    TokenSession,
    connection,
    find_public_key,
    is_sensitive,
)
from keystore.signer import Signed, X509Builder
from keystore.x509_splice import Scheme, scheme_for, sign_x509_with, verifies
from store.models import StoredKey

_CURVES = {"ec-p256": ("secp256r1", ec.SECP256R1()), "ec-p384": ("secp384r1", ec.SECP384R1())}
# digest name -> (digest mechanism, MGF1 for PSS, hash-and-sign PKCS#1 v1.5 mechanism)
_RSA_MECHANISMS = {
    "sha256": (Mechanism.SHA256, MGF.SHA256, Mechanism.SHA256_RSA_PKCS),
    "sha384": (Mechanism.SHA384, MGF.SHA384, Mechanism.SHA384_RSA_PKCS),
}


class Pkcs11Signer:
    """The same duck type as ``KeySigner``, signing inside the token."""

    __slots__ = ("_connection", "_public_key", "algorithm", "key_id")

    def __init__(
        self, connection: TokenConnection, key_id: str, algorithm: str, public_key: PublicKeyTypes
    ) -> None:
        self._connection = connection
        self._public_key = public_key
        self.key_id: str | None = key_id
        self.algorithm = algorithm

    def public_key(self) -> PublicKeyTypes:
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with the key's scheme: ECDSA (DER signature) or RSASSA-PSS, like ``KeySigner``."""
        return self._sign(data, scheme_for(self.algorithm, rsa_pss=True))

    def sign_prehashed(self, digest: bytes) -> bytes:
        """Sign a digest computed elsewhere (CSC signHash), like ``KeySigner.sign_prehashed``."""
        return self._sign(digest, scheme_for(self.algorithm, rsa_pss=True), prehashed=True)

    def verify(self, data: bytes, signature: bytes) -> bool:
        return verifies(
            self._public_key, self.algorithm, scheme_for(self.algorithm, rsa_pss=True), data, signature
        )

    def sign_x509(self, builder: X509Builder[Signed], *, rsa_pss: bool = True) -> Signed:
        """Sign a certificate, CRL, CSR or OCSP response builder; RSA uses PSS unless ``rsa_pss`` is off."""
        return sign_x509_with(builder, self.algorithm, self._public_key, self._sign, rsa_pss=rsa_pss)

    def _sign(self, data: bytes, scheme: Scheme, *, prehashed: bool = False) -> bytes:
        digest_algorithm = signature_hash(self.algorithm)
        key_id = self.key_id or ""
        if scheme == "rsa-pkcs1v15":
            if prehashed:
                raise ValueError("RSA PKCS#1 v1.5 keys in the token sign data, not digests")
            mechanism, parameter, payload = _RSA_MECHANISMS[digest_algorithm.name][2], None, data
        else:
            digest = hashes.Hash(digest_algorithm)
            digest.update(data)
            payload = data if prehashed else digest.finalize()
            if scheme == "ecdsa":
                mechanism, parameter = Mechanism.ECDSA, None
            else:
                hash_mechanism, mgf, _ = _RSA_MECHANISMS[digest_algorithm.name]
                mechanism, parameter = (
                    Mechanism.RSA_PKCS_PSS,
                    (hash_mechanism, mgf, digest_algorithm.digest_size),
                )

        def sign_in_token(token_session: TokenSession) -> bytes:
            key = token_session.private_key(key_id)
            return key.sign(payload, mechanism=mechanism, mechanism_param=parameter)

        signature = self._connection.run(sign_in_token)
        if scheme == "ecdsa":  # PKCS#11 gives r || s, each as wide as the curve order; X.509 and CMS want DER
            half = len(signature) // 2
            return encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
        return signature

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self.algorithm}, key_id={self.key_id!r})"


class Pkcs11Keystore:
    """Generates keys in the configured token and hands out signers for them; the interface of
    ``SoftwareKeystore``. The token is reached on first use, so a misconfiguration shows up as a
    ServiceError naming the setting at the first command that needs a key."""

    backend = "pkcs11"

    def __init__(self, config: TokenConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._signers: dict[str, Pkcs11Signer] = {}
        self._lock = threading.Lock()

    @property
    def connection(self) -> TokenConnection:
        return connection(self.config)

    def generate(self, session: Session, algorithm: str, label: str) -> Pkcs11Signer:
        """Create a key pair inside the token; the row (public key only) is added to the session."""
        if algorithm not in ALGORITHMS:
            raise malformed(f"unsupported key algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
        key_id = new_id()
        token = self.connection
        public_key = token.run(lambda token_session: _generate_in_token(token_session, algorithm, key_id))
        session.add(
            StoredKey(
                id=key_id,
                label=label[:200],
                algorithm=algorithm,
                backend=self.backend,
                public_key_der=_der(public_key),
                wrapped_private_key=None,
                created_at=self._clock.now(),
            )
        )
        session.flush()
        signer = Pkcs11Signer(token, key_id, algorithm, public_key)
        with self._lock:
            self._signers[key_id] = signer
        return signer

    def signer(self, session: Session, key_id: str) -> Pkcs11Signer:
        cached = self._signers.get(key_id)
        if cached is not None:
            return cached
        row = session.get(StoredKey, key_id)
        if row is None or row.backend != self.backend:
            raise ServiceError(Kind.NOT_FOUND, f"no key {key_id} in the PKCS#11 token")
        public_key = serialization.load_der_public_key(row.public_key_der)
        token = self.connection
        token.run(lambda token_session: _check_token_key(token_session, key_id, public_key))
        signer = Pkcs11Signer(token, key_id, row.algorithm, public_key)
        with self._lock:
            self._signers[key_id] = signer
        return signer

    def forget(self, key_id: str) -> None:
        self._signers.pop(key_id, None)


def _generate_in_token(token_session: TokenSession, algorithm: str, key_id: str) -> PublicKeyTypes:
    session = token_session.session
    common = {
        "id": key_id.encode(),
        "label": key_id,
        "store": True,  # CKA_TOKEN: the key outlives the session
        "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
        "private_template": {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.PRIVATE: True,
        },
    }
    if algorithm in _CURVES:
        parameters = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(_CURVES[algorithm][0])},
            local=True,
        )
        public, private = parameters.generate_keypair(**common)
    else:
        public, private = session.generate_keypair(KeyType.RSA, int(algorithm.removeprefix("rsa-")), **common)
    if not is_sensitive(private):
        private.destroy()
        public.destroy()
        raise ServiceError(
            Kind.UNAVAILABLE, "the PKCS#11 token made an extractable private key; it was destroyed"
        )
    public_key = _public_key_of(public, algorithm)
    if algorithm_of(public_key) != algorithm:
        raise ServiceError(Kind.INTERNAL, f"the token made a key that is not {algorithm}")
    return public_key


def _check_token_key(token_session: TokenSession, key_id: str, expected: PublicKeyTypes) -> None:
    """The private key is in the token and the token's public half is the one Kyso recorded."""
    token_session.private_key(key_id)
    public = find_public_key(token_session.session, key_id)
    if public is not None:
        algorithm = algorithm_of(expected)
        if _der(_public_key_of(public, algorithm)) != _der(expected):
            raise ServiceError(
                Kind.INTERNAL, f"the token's key {key_id} does not match the public key Kyso recorded"
            )


def _public_key_of(public: object, algorithm: str) -> PublicKeyTypes:
    if algorithm in _CURVES:
        point = public[Attribute.EC_POINT]  # type: ignore[index]
        if point[:1] == b"\x04" and len(point) % 2 == 1 and _is_raw_point(point, algorithm):
            raw = point  # some tokens return the bare point instead of a DER OCTET STRING
        else:
            raw = core.OctetString.load(point).native
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[algorithm][1], raw)
    modulus = int.from_bytes(public[Attribute.MODULUS], "big")  # type: ignore[index]
    exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")  # type: ignore[index]
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def _is_raw_point(point: bytes, algorithm: str) -> bool:
    return len(point) == 1 + 2 * (_CURVES[algorithm][1].key_size + 7) // 8


def _der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
