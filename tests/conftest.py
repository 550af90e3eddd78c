"""Shared fixtures: databases (SQLite and a throwaway PostgreSQL), a CA hierarchy, helpers for real tools."""

from __future__ import annotations

import itertools
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca.hierarchy import initialise
from ca.issuance import CertificateAuthority
from ca.runtime import CaRuntime
from core.clock import Clock, SystemClock
from core.settings import Settings
from store.db import Database
from store.migrate import upgrade
from store.models import Certificate, StoredKey
from tests.support.postgres import postgres_url

PUBLIC_BASE_URL = "https://pki.kyso.example.com"  # a public name: lint runs fully strict
MASTER_KEY = "test-master-key-" + "x" * 40
VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"
DATABASES = ["sqlite", "postgresql"]
_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server per test process (per xdist worker), started from the installed binaries."""
    with postgres_url() as url:
        yield url


def new_database_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'kyso.db'}"
    from tests.support.postgres import fresh_database

    admin_url = request.getfixturevalue("postgres_server")
    return fresh_database(admin_url, f"t{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}")


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "master_key": MASTER_KEY,
        "base_url": PUBLIC_BASE_URL,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Instance:
    """A migrated database with the CA hierarchy, and the settings that reach it."""

    settings: Settings
    runtime: CaRuntime

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def ca(self) -> CertificateAuthority:
        return self.runtime.ca

    def env(self) -> dict[str, str]:
        """Environment for running the `kyso` CLI against this instance."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
        env.update(
            KYSO_DATA_DIR=str(self.settings.data_dir),
            KYSO_DATABASE_URL=self.settings.resolved_database_url,
            KYSO_MASTER_KEY=MASTER_KEY,
            KYSO_BASE_URL=self.settings.base_url,
        )
        return env

    def count(self, model: type = Certificate) -> int:
        with self.db.reading() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def counts(self) -> tuple[int, int]:
        return self.count(Certificate), self.count(StoredKey)


def make_instance(
    tmp_path: Path, database_url: str, *, clock: Clock | None = None, algorithm: str = "ec-p384"
) -> Instance:
    settings = make_settings(tmp_path / "var", database_url)
    runtime = CaRuntime.from_settings(settings, clock=clock or SystemClock())
    upgrade(runtime.db)
    with runtime.db.transaction() as session:
        initialise(session, runtime.ca, algorithm)
    return Instance(settings, runtime)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return new_database_url(request.param, tmp_path, request)


@pytest.fixture
def instance(database_url: str, tmp_path: Path) -> Iterator[Instance]:
    inst = make_instance(tmp_path, database_url)
    yield inst
    inst.db.dispose()


@pytest.fixture(scope="module", params=DATABASES)
def shared_instance(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    """One hierarchy per module and database, for tests that only add certificates."""
    tmp = tmp_path_factory.mktemp("shared")
    inst = make_instance(tmp, new_database_url(request.param, tmp, request))
    yield inst
    inst.db.dispose()


def run_tool(*args: str | Path, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a real command-line tool; on failure the assertion shows its output."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if check:
        assert result.returncode == 0, (
            f"{args[0]} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def kyso(
    instance: Instance,
    *args: str | Path,
    check: bool = False,
    env: dict[str, str] | None = None,
    **kwargs: object,
) -> subprocess.CompletedProcess[str]:
    return run_tool(
        VENV_BIN / "kyso",
        *args,
        check=check,
        env={**instance.env(), **(env or {})},
        cwd=instance.settings.data_dir.parent,
        **kwargs,
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(
    instance: Instance, *, env: dict[str, str] | None = None, timeout: float = 120
) -> LiveServer:
    """`kyso serve` as a real process on a free loopback port, ready when /healthz answers."""
    import time
    import urllib.request

    port = free_port()
    log = instance.settings.data_dir.parent / f"serve-{port}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port)],
        env={**instance.env(), **(env or {})},
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=instance.settings.data_dir.parent,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kyso serve exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return LiveServer(url, process, log)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"kyso serve did not become healthy:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


TEST_PASSWORD = "correct horse battery staple"


@dataclass
class TestAccount:
    __test__ = False  # an account for tests, not a test class for pytest to collect

    username: str
    role: str
    password: str
    totp_secret: str | None

    def code(self, at: float | None = None) -> str:
        import pyotp

        assert self.totp_secret is not None
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(at) if at is not None else totp.now()


def make_account(instance: Instance, role: str, username: str | None = None, **extra: str) -> TestAccount:
    """An account with a known password and, for roles that need one, a TOTP secret."""
    from identity import accounts, totp
    from identity.permissions import SECOND_FACTOR_REQUIRED
    from keystore.secretbox import SecretBox

    name = username or f"{role.replace('-', '')}{next(_names)}"
    box = SecretBox(instance.settings.master_key_bytes())
    with instance.db.transaction() as session:
        new = accounts.create(
            session, instance.ca.clock, username=name if role != "citizen" else username, role=role,
            display_name=name, password=None if role == "service" else TEST_PASSWORD, **extra,
        )  # fmt: skip
        secret = totp.enrol(session, box, new.account).secret if role in SECOND_FACTOR_REQUIRED else None
        name = new.account.username
    return TestAccount(name, role, TEST_PASSWORD, secret)


def bearer(client, account: TestAccount) -> dict[str, str]:
    """Log in through the API (password + one-time code) and return the Authorization header."""
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        form["totp"] = account.code()
    response = client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# SoftHSM2 token fixtures (softhsm_token, pkcs11_keystore, pkcs11_instance) for every test module.
pytest_plugins = ["tests.support.softhsm"]


# The per-client login and verify limits (api.ratelimit) count every test's requests from "testclient"
# against one database; the tests of those limits set their own rates.
os.environ.setdefault("KYSO_LOGIN_RATE_PER_MINUTE", "100000")
os.environ.setdefault("KYSO_VERIFY_RATE_PER_MINUTE", "100000")
os.environ.setdefault("KYSO_OCSP_RATE_PER_MINUTE", "1000000")  # and OCSP and the TSA (api.ratelimit)
os.environ.setdefault("KYSO_TSA_RATE_PER_MINUTE", "1000000")
