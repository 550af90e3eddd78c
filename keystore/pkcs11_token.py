"""One process's connection to a PKCS#11 token: the module loaded once, one login, one session.

PKCS#11 login state belongs to the application, not to a session: once a session has logged in with the
user PIN, every session the process opens on that token is logged in too, and closing the session that
logged in logs them all out. So each process keeps one connection per token (shared by every keystore
object built in it) and never closes its session.

python-pkcs11 initialises modules without CKF_OS_LOCKING_OK, which tells a module (SoftHSM2 among them)
that it will not be called from two threads at once; so every call into a module holds that module's
lock. After ``fork`` the child must not use the parent's session (the PKCS#11 spec leaves that
undefined): the connection notices the new process id, re-initialises the module and logs in again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import pkcs11
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from core.errors import Kind, ServiceError

T = TypeVar("T")

# Errors after which the session (or the whole connection, or a cached key handle) is stale: reconnect,
# look the key up again, and retry once.
_CONNECTION_LOST = (
    p11.KeyHandleInvalid,
    p11.ObjectHandleInvalid,
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.UserNotLoggedIn,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.DeviceError,
)


@dataclass(frozen=True)
class TokenConfig:
    module: str
    token_label: str
    pin: str = field(repr=False)


class TokenSession:
    """The logged-in session, with the handles of the private keys it has looked up."""

    def __init__(self, session: pkcs11.Session) -> None:
        self.session = session
        self._keys: dict[str, pkcs11.PrivateKey] = {}

    def private_key(self, key_id: str) -> pkcs11.PrivateKey:
        key = self._keys.get(key_id)
        if key is None:
            key = find_private_key(self.session, key_id)
            self._keys[key_id] = key
        return key


def find_private_key(session: pkcs11.Session, key_id: str) -> pkcs11.PrivateKey:
    try:
        return session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id.encode())  # type: ignore[return-value]
    except p11.NoSuchKey:
        raise ServiceError(
            Kind.UNAVAILABLE, f"key {key_id} is not in the PKCS#11 token (was the token replaced or reset?)"
        ) from None
    except p11.MultipleObjectsReturned:
        raise ServiceError(
            Kind.INTERNAL, f"the PKCS#11 token holds two private keys with id {key_id}"
        ) from None


def find_public_key(session: pkcs11.Session, key_id: str) -> pkcs11.PublicKey | None:
    try:
        return session.get_key(object_class=ObjectClass.PUBLIC_KEY, id=key_id.encode())  # type: ignore[return-value]
    except (p11.NoSuchKey, p11.MultipleObjectsReturned):
        return None


class TokenConnection:
    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._pid = os.getpid()
        self._current: TokenSession | None = None

    def run(self, operation: Callable[[TokenSession], T]) -> T:
        """Run ``operation`` on the logged-in session; if the connection was lost, reconnect, retry once."""
        for attempt in (1, 2):
            with module_lock(self.config.module):
                session = self._session()
                try:
                    return operation(session)
                except _CONNECTION_LOST as exc:
                    self._current = None
                    if attempt == 2:
                        raise _unavailable(f"the PKCS#11 token {self._label} is not reachable", exc) from None
                except p11.PKCS11Error as exc:
                    raise _unavailable(
                        f"the PKCS#11 token {self._label} refused the operation", exc
                    ) from None
        raise AssertionError("unreachable")

    @contextmanager
    def session(self) -> Iterator[pkcs11.Session]:
        """The logged-in session, for code that handles PKCS#11 errors itself (tests, inspection)."""
        with module_lock(self.config.module):
            yield self._session().session

    @property
    def _label(self) -> str:
        return repr(self.config.token_label)

    def _session(self) -> TokenSession:
        if self._pid != os.getpid():  # forked: the parent's session is not ours to use
            self._pid, self._current = os.getpid(), None
        if self._current is None:
            self._current = TokenSession(self._log_in())
        return self._current

    def _log_in(self) -> pkcs11.Session:
        config = self.config
        library = load_module(config.module)
        try:
            token = _find_token(library, config.token_label)
        except p11.NoSuchToken:
            present = ", ".join(repr(t.label) for t in _tokens(library) if t.label) or "none"
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"KYSO_PKCS11_TOKEN_LABEL: no token labelled {config.token_label!r} in {config.module} "
                f"(tokens present: {present})",
            ) from None
        except p11.MultipleTokensReturned:
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"KYSO_PKCS11_TOKEN_LABEL: more than one token is labelled {config.token_label!r}",
            ) from None
        except p11.PKCS11Error as exc:
            raise _unavailable(f"cannot list the tokens of {config.module}", exc) from None
        try:
            return token.open(rw=True, user_pin=config.pin)  # never closed: that would log the process out
        except p11.UserAlreadyLoggedIn:
            return token.open(rw=True)  # a session from before (lost, or the parent's) still holds the login
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange):
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"KYSO_PKCS11_PIN (or KYSO_PKCS11_PIN_FILE): the token {self._label} refused the PIN",
            ) from None
        except (p11.PinLocked, p11.PinExpired):
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"KYSO_PKCS11_PIN: the user PIN of token {self._label} is locked or expired; "
                "the token's security officer must reset it",
            ) from None
        except p11.PKCS11Error as exc:
            raise _unavailable(f"cannot log in to the PKCS#11 token {self._label}", exc) from None


def _find_token(library: pkcs11.lib, label: str) -> pkcs11.Token:  # type: ignore[valid-type]
    """The token labelled ``label``. If the module cannot find it or fails, the module is initialised
    again and asked once more: a module keeps the slot list it read at C_Initialize, so a token taken out
    and put back (a SoftHSM2 token directory, a network HSM that restarted) is only seen after that."""
    try:
        return library.get_token(token_label=label)
    except (p11.NoSuchToken, p11.GeneralError, p11.DeviceError, p11.DeviceRemoved, p11.TokenNotPresent):
        library.reinitialize()  # every session of this module in the process ends; they reconnect
        return library.get_token(token_label=label)


def _unavailable(message: str, exc: Exception) -> ServiceError:
    return ServiceError(Kind.UNAVAILABLE, f"{message} ({type(exc).__name__})")


def _tokens(library: pkcs11.lib) -> list[pkcs11.Token]:  # type: ignore[valid-type]
    try:
        return list(library.get_tokens())
    except p11.PKCS11Error:
        return []


_initialised_in: dict[str, int] = {}  # module path -> the process that initialised it
_module_locks: dict[str, tuple[int, threading.RLock]] = {}
_registry_lock = threading.Lock()


def module_lock(module: str) -> threading.RLock:
    """The lock every call into ``module`` holds (a fresh one in a forked child: the parent's may be held)."""
    with _registry_lock:
        pid_and_lock = _module_locks.get(module)
        if pid_and_lock is None or pid_and_lock[0] != os.getpid():
            pid_and_lock = _module_locks[module] = (os.getpid(), threading.RLock())
        return pid_and_lock[1]


def load_module(module: str) -> pkcs11.lib:  # type: ignore[valid-type]
    """The PKCS#11 module, loaded and initialised once per process (again in a forked child)."""
    with module_lock(module):
        try:
            library = pkcs11.lib(module)
            if _initialised_in.setdefault(module, os.getpid()) != os.getpid():
                library.reinitialize()  # C_Finalize the parent's state, C_Initialize our own
                _initialised_in[module] = os.getpid()
        except p11.PKCS11Error as exc:
            raise ServiceError(
                Kind.UNAVAILABLE, f"KYSO_PKCS11_MODULE: cannot load the PKCS#11 module {module}: {exc}"
            ) from None
        return library


_connections: dict[tuple[str, str], TokenConnection] = {}


def connection(config: TokenConfig) -> TokenConnection:
    """This process's connection to the configured token (shared: there is one login per process)."""
    with _registry_lock:
        existing = _connections.get((config.module, config.token_label))
        if existing is None:
            existing = _connections[(config.module, config.token_label)] = TokenConnection(config)
    if existing.config.pin != config.pin:
        raise ServiceError(
            Kind.UNAVAILABLE,
            f"KYSO_PKCS11_PIN: this process is logged in to token {config.token_label!r} with another PIN",
        )
    return existing


def is_sensitive(key: pkcs11.PrivateKey) -> bool:
    """The private key cannot leave the token: sensitive, never extractable."""
    return bool(key[Attribute.SENSITIVE]) and not key[Attribute.EXTRACTABLE]
