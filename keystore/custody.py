"""Which keystore holds which key: new keys go to the configured backend, existing keys stay where they were.

``KYSO_KEYSTORE`` picks the backend of new keys (``software`` by default, ``pkcs11`` for a token); every
stored key records its backend, and ``Custody.signer`` asks that backend. So an instance moved from
software keys to an HSM keeps signing with its old software keys, and one moved back keeps using its token
keys as long as ``KYSO_PKCS11_*`` still name the token.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from sqlalchemy.orm import Session

from core.clock import Clock
from core.errors import Kind, ServiceError
from core.settings import Settings
from keystore.pkcs11 import Pkcs11Keystore
from keystore.pkcs11_token import TokenConfig
from keystore.signer import Signed, X509Builder
from keystore.software import SoftwareKeystore
from store.models import StoredKey


class Signer(Protocol):
    """What every backend hands out (``KeySigner``, ``Pkcs11Signer``)."""

    algorithm: str
    key_id: str | None

    def public_key(self) -> PublicKeyTypes: ...
    def sign(self, data: bytes) -> bytes: ...
    def sign_prehashed(self, digest: bytes) -> bytes: ...
    def verify(self, data: bytes, signature: bytes) -> bool: ...
    def sign_x509(self, builder: X509Builder[Signed], *, rsa_pss: bool = True) -> Signed: ...


class Keystore(Protocol):
    @property
    def backend(self) -> str: ...

    def generate(self, session: Session, algorithm: str, label: str) -> Signer: ...
    def signer(self, session: Session, key_id: str) -> Signer: ...
    def forget(self, key_id: str) -> None: ...


class Custody:
    """Routes each key to the backend that holds it; generates new keys in the default backend."""

    def __init__(self, default: Keystore, *others: Keystore) -> None:
        self.default = default
        self._backends = {b.backend: b for b in (default, *others)}
        self._routes: dict[str, Keystore] = {}  # key id -> backend; a key never changes backend
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.default.backend

    def backends(self) -> dict[str, Keystore]:
        return dict(self._backends)

    def generate(self, session: Session, algorithm: str, label: str) -> Signer:
        return self.default.generate(session, algorithm, label)

    def signer(self, session: Session, key_id: str) -> Signer:
        backend = self._routes.get(key_id)
        if backend is None:
            row = session.get(StoredKey, key_id)
            if row is None:
                raise ServiceError(Kind.NOT_FOUND, f"no key {key_id} in custody")
            backend = self._backends.get(row.backend)
            if backend is None:
                raise ServiceError(Kind.UNAVAILABLE, _unconfigured(key_id, row.backend))
            with self._lock:
                self._routes[key_id] = backend
        return backend.signer(session, key_id)

    def forget(self, key_id: str) -> None:
        for backend in self._backends.values():
            backend.forget(key_id)


def _unconfigured(key_id: str, backend: str) -> str:
    if backend == "pkcs11":
        return (
            f"key {key_id} is held in a PKCS#11 token; set KYSO_PKCS11_MODULE, KYSO_PKCS11_TOKEN_LABEL "
            "and KYSO_PKCS11_PIN (or KYSO_PKCS11_PIN_FILE) to reach it"
        )
    return f"key {key_id} is held by an unknown keystore backend {backend!r}"


def open_keystore(settings: Settings, clock: Clock, *, create_master_key: bool = False) -> Custody:
    """The configured custody: software keys always (they may exist from before), plus the token when
    ``KYSO_KEYSTORE=pkcs11`` or the ``KYSO_PKCS11_*`` settings are given."""
    software = SoftwareKeystore(settings.master_key_bytes(create=create_master_key), clock)
    if settings.keystore == "pkcs11" or settings.pkcs11_module is not None:
        token = Pkcs11Keystore(token_config(settings), clock)
        return Custody(token, software) if settings.keystore == "pkcs11" else Custody(software, token)
    return Custody(software)


def token_config(settings: Settings) -> TokenConfig:
    """The PKCS#11 settings, checked; each problem names the setting to fix."""
    if settings.pkcs11_module is None:
        raise ServiceError(
            Kind.MALFORMED,
            "KYSO_KEYSTORE=pkcs11 needs KYSO_PKCS11_MODULE, the path of the token's PKCS#11 module "
            "(SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so)",
        )
    if not settings.pkcs11_module.is_file():
        raise ServiceError(
            Kind.UNAVAILABLE, f"KYSO_PKCS11_MODULE: {settings.pkcs11_module} does not exist or is not a file"
        )
    if not settings.pkcs11_token_label:
        raise ServiceError(Kind.MALFORMED, "the PKCS#11 keystore needs KYSO_PKCS11_TOKEN_LABEL")
    return TokenConfig(str(settings.pkcs11_module), settings.pkcs11_token_label, _pin(settings))


def _pin(settings: Settings) -> str:
    if settings.pkcs11_pin is not None:
        return settings.pkcs11_pin.get_secret_value()
    if settings.pkcs11_pin_file is None:
        raise ServiceError(
            Kind.MALFORMED,
            "the PKCS#11 keystore needs the token's user PIN: KYSO_PKCS11_PIN or KYSO_PKCS11_PIN_FILE",
        )
    try:
        pin = _first_line(settings.pkcs11_pin_file)
    except OSError as exc:
        raise ServiceError(Kind.UNAVAILABLE, f"cannot read KYSO_PKCS11_PIN_FILE: {exc.strerror}") from None
    if not pin:
        raise ServiceError(Kind.MALFORMED, "KYSO_PKCS11_PIN_FILE is empty")
    return pin


def _first_line(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines else ""
