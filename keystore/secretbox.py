"""Small secrets at rest (TOTP seeds): AES-256-GCM under a key derived from the master key."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import Kind, ServiceError

_FORMAT = b"KYSO-SB1"


class SecretBox:
    def __init__(self, master_key: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kyso secretbox", info=b"secrets v1").derive(
            master_key
        )
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return _FORMAT + nonce + self._aead.encrypt(nonce, plain, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if not sealed.startswith(_FORMAT):
            raise ServiceError(Kind.INTERNAL, "a stored secret has an unknown format")
        nonce = sealed[len(_FORMAT) : len(_FORMAT) + 12]
        try:
            return self._aead.decrypt(nonce, sealed[len(_FORMAT) + 12 :], context.encode())
        except InvalidTag as exc:
            raise ServiceError(
                Kind.UNAVAILABLE, "a stored secret does not unwrap (wrong master key?)"
            ) from exc
