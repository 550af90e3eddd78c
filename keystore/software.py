"""Software key custody: private keys wrapped with AES-256-GCM under a key derived from the master key.

The wrapping key comes from HKDF-SHA256 over ``KYSO_MASTER_KEY``; each wrapped key is bound to its row id
as associated data, so a blob copied onto another row does not unwrap.
"""

from __future__ import annotations

import os
import threading

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError
from core.ids import new_id
from keystore.algorithms import generate_private_key
from keystore.signer import KeySigner
from store.models import StoredKey

_FORMAT = b"KYSO-KW1"
_NONCE_BYTES = 12


class EphemeralKey:
    """A freshly generated key that is never stored: it leaves once, inside a password-protected PKCS#12."""

    __slots__ = ("__key", "algorithm")

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.__key = generate_private_key(algorithm)

    def public_key(self):
        return self.__key.public_key()

    def to_pkcs12(
        self, certificate: x509.Certificate, chain: list[x509.Certificate], password: str, friendly_name: str
    ) -> bytes:
        if len(password) < 8:
            raise ServiceError(Kind.MALFORMED, "the PKCS#12 password must have at least 8 characters")
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password.encode())
        )
        return pkcs12.serialize_key_and_certificates(
            friendly_name.encode(),
            self.__key,
            certificate,
            chain,
            encryption,
        )


class SoftwareKeystore:
    """Generates, wraps, stores and unwraps keys; unwrapped signers are cached for the process lifetime."""

    backend = "software"

    def __init__(self, master_key: bytes, clock: Clock) -> None:
        wrapping_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"kyso keystore", info=b"key wrapping v1"
        ).derive(master_key)
        self._aead = AESGCM(wrapping_key)
        self._clock = clock
        self._signers: dict[str, KeySigner] = {}
        self._lock = threading.Lock()

    def generate(self, session: Session, algorithm: str, label: str) -> KeySigner:
        """Create a key in custody; its wrapped form is added to the session (stored at commit)."""
        private_key = generate_private_key(algorithm)
        key_id = new_id()
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        session.add(
            StoredKey(
                id=key_id,
                label=label[:200],
                algorithm=algorithm,
                backend=self.backend,
                public_key_der=public_der,
                wrapped_private_key=self._wrap(key_id, private_key),
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return KeySigner(private_key, key_id)

    def signer(self, session: Session, key_id: str) -> KeySigner:
        cached = self._signers.get(key_id)
        if cached is not None:
            return cached
        row = session.get(StoredKey, key_id)
        if row is None or row.wrapped_private_key is None:
            raise ServiceError(Kind.NOT_FOUND, f"no key {key_id} in custody")
        signer = KeySigner(self._unwrap(key_id, row.wrapped_private_key), key_id)
        with self._lock:
            self._signers[key_id] = signer
        return signer

    def forget(self, key_id: str) -> None:
        self._signers.pop(key_id, None)

    def _wrap(self, key_id: str, private_key: PrivateKeyTypes) -> bytes:
        plain = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plain, key_id.encode())

    def _unwrap(self, key_id: str, blob: bytes) -> PrivateKeyTypes:
        if not blob.startswith(_FORMAT):
            raise ServiceError(Kind.INTERNAL, f"stored key {key_id} has an unknown wrapping format")
        nonce = blob[len(_FORMAT) : len(_FORMAT) + _NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, blob[len(_FORMAT) + _NONCE_BYTES :], key_id.encode())
        except InvalidTag as exc:
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"stored key {key_id} does not unwrap: wrong KYSO_MASTER_KEY, or the stored key was altered",
            ) from exc
        return serialization.load_der_private_key(plain, password=None)
