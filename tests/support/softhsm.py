"""A SoftHSM2 token for the tests, and instances whose keys live in it.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the module is initialised in a process, so one configuration
serves a whole test process: ``softhsm_token`` (session scope) writes it into a temporary directory of
this process (each pytest-xdist worker has its own), initialises a token there with
``softhsm2-util --init-token --free`` and points ``SOFTHSM2_CONF`` at it. Use it (or the fixtures built
on it) before anything loads the module in the test process.

Fixtures, available to every test module (tests/conftest.py loads this module as a plugin):
- ``softhsm_token``: the token (``.env()`` for subprocesses, ``.settings()`` overrides, ``.config()``);
- ``pkcs11_keystore``: a ``Pkcs11Keystore`` on that token;
- ``pkcs11_instance``: an ``Instance`` (SQLite) whose CA hierarchy and service signers are in the token;
  its ``env()`` carries the ``KYSO_PKCS11_*`` settings, so ``kyso(pkcs11_instance, …)`` uses the token.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass

from ca.hierarchy import initialise
from ca.runtime import CaRuntime
from core.clock import SystemClock
from keystore.pkcs11 import Pkcs11Keystore
from keystore.pkcs11_token import TokenConfig, connection
from store.migrate import upgrade
from tests.conftest import Instance, make_settings

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")  # Debian package softhsm2


@dataclass(frozen=True)
class SoftHsmToken:
    conf: Path
    label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)
    module: Path = SOFTHSM_MODULE

    def config(self) -> TokenConfig:
        return TokenConfig(str(self.module), self.label, self.pin)

    def settings(self) -> dict[str, object]:
        """Settings overrides for an instance whose new keys go to this token."""
        return {
            "keystore": "pkcs11",
            "pkcs11_module": self.module,
            "pkcs11_token_label": self.label,
            "pkcs11_pin": self.pin,
        }

    def env(self) -> dict[str, str]:
        """Environment for a `kyso` subprocess using this token."""
        return {
            "SOFTHSM2_CONF": str(self.conf),
            "KYSO_KEYSTORE": "pkcs11",
            "KYSO_PKCS11_MODULE": str(self.module),
            "KYSO_PKCS11_TOKEN_LABEL": self.label,
            "KYSO_PKCS11_PIN": self.pin,
        }

    def private_keys(self) -> dict[str, dict[str, bool]]:
        """Every private key in the token: CKA_ID -> its custody attributes (read through a logged-in
        session; private objects are invisible to others)."""
        with connection(self.config()).session() as session:
            return {
                bytes(key[Attribute.ID]).decode(): {
                    name: bool(key[a]) for name, a in _CUSTODY_ATTRIBUTES.items()
                }
                for key in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            }


_CUSTODY_ATTRIBUTES = {
    "token": Attribute.TOKEN,
    "private": Attribute.PRIVATE,
    "sensitive": Attribute.SENSITIVE,
    "extractable": Attribute.EXTRACTABLE,
    "always_sensitive": Attribute.ALWAYS_SENSITIVE,
    "never_extractable": Attribute.NEVER_EXTRACTABLE,
}


def init_token(directory: Path, label: str) -> SoftHsmToken:
    """A fresh SoftHSM2 token in ``directory`` (configuration file and token store)."""
    if not SOFTHSM_MODULE.is_file() or shutil.which("softhsm2-util") is None:
        pytest.fail("SoftHSM2 is not installed (Debian package softhsm2); `make test` installs it")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    token = SoftHsmToken(conf, label, pin=secrets.token_hex(4), so_pin=secrets.token_hex(8))
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            token.so_pin,
            "--pin",
            token.pin,
        ],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
    )
    return token


_process_token: SoftHsmToken | None = None


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    """This test process's token; one per process even if a module imports this fixture under its own name
    (SoftHSM2 reads its configuration once per process)."""
    global _process_token
    if _process_token is None:
        if _module_loaded():
            pytest.fail("the PKCS#11 module was loaded before softhsm_token set SOFTHSM2_CONF")
        _process_token = init_token(tmp_path_factory.mktemp("softhsm"), "kyso-test")
        os.environ["SOFTHSM2_CONF"] = str(_process_token.conf)
    return _process_token


def _module_loaded() -> bool:
    return str(SOFTHSM_MODULE) in pkcs11._loaded


@pytest.fixture
def pkcs11_keystore(softhsm_token: SoftHsmToken) -> Pkcs11Keystore:
    return Pkcs11Keystore(softhsm_token.config(), SystemClock())


@dataclass
class Pkcs11Instance(Instance):
    token: SoftHsmToken | None = None

    def env(self) -> dict[str, str]:
        """Environment for `kyso` subprocesses: the instance and the token."""
        return {**super().env(), **(self.token.env() if self.token else {})}


def make_pkcs11_instance(
    tmp_path: Path, token: SoftHsmToken, *, algorithm: str = "ec-p384"
) -> Pkcs11Instance:
    """A migrated SQLite instance whose CA and service keys are generated in ``token``."""
    settings = make_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'kyso.db'}", **token.settings())
    runtime = CaRuntime.from_settings(settings, clock=SystemClock())
    upgrade(runtime.db)
    with runtime.db.transaction() as session:
        initialise(session, runtime.ca, algorithm)
    return Pkcs11Instance(settings, runtime, token)


@pytest.fixture
def pkcs11_instance(softhsm_token: SoftHsmToken, tmp_path: Path) -> Iterator[Pkcs11Instance]:
    instance = make_pkcs11_instance(tmp_path, softhsm_token)
    yield instance
    instance.db.dispose()
