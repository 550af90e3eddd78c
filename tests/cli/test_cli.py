"""The `kyso` command as an operator scripts it: real subprocesses against a real instance, checked with
the real `openssl`.

Each subprocess costs a second or more, so the cheap, database-sensitive paths run on SQLite and
PostgreSQL and the input checks (which fail before the database is touched) on SQLite only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import sqlite3
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from ca import lifecycle
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from cli.common import EXIT_CODES
from cli.main import app
from core.errors import Kind
from tests.conftest import VENV_BIN, Instance, kyso, make_instance, run_tool

NAME = ["--name", "Nguyễn Văn An", "--surname", "Nguyễn", "--given-name", "Văn An"]
CCCD = "079203001234"
ISSUE = ["ca", "issue", "citizen", *NAME]
MALFORMED, NOT_FOUND, CONFLICT = (EXIT_CODES[k] for k in (Kind.MALFORMED, Kind.NOT_FOUND, Kind.CONFLICT))


def spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def assert_refused(result: subprocess.CompletedProcess[str], exit_code: int, fragment: str) -> None:
    """Non-zero exit, one `error:` line naming the problem on stderr, no traceback, nothing on stdout."""
    assert result.returncode == exit_code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert fragment.lower() in lines[0].lower(), lines[0]
    assert result.stdout == ""


# -- help, in-process --------------------------------------------------------------------------------

CONTRACT_COMMANDS = [
    (),
    ("init",),
    ("serve",),
    ("ca",),
    *(
        ("ca", name)
        for name in (
            "issue",
            "list",
            "show",
            "revoke",
            "suspend",
            "reinstate",
            "renew",
            "authorities",
            "chain",
            "crl",
            "bulk-issue",
        )
    ),
]


def all_command_paths() -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []

    def walk(command, path: tuple[str, ...]) -> None:
        paths.append(path)
        if hasattr(
            command, "list_commands"
        ):  # a group (the root builds its groups when asked: cli.main.Root)
            for name in command.list_commands(None):
                walk(command.get_command(None, name), (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def test_every_command_has_help() -> None:
    paths = all_command_paths()
    missing = [" ".join(p) for p in CONTRACT_COMMANDS if p not in paths]
    assert not missing, f"commands of the contract missing: {missing}"
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output, (path, result.output)
    issue_help = runner.invoke(app, ["ca", "issue", "--help"]).output
    for option in ("--cccd", "--keygen", "--csr", "--p12", "--p12-password-file", "--out", "--json"):
        assert option in issue_help


# -- kyso init on a fresh data directory ------------------------------------------------------------


def dump(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


def test_init_creates_an_instance_and_is_idempotent(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env["KYSO_DATA_DIR"] = str(data_dir)

    def init() -> subprocess.CompletedProcess[str]:
        return run_tool(VENV_BIN / "kyso", "init", env=env, cwd=tmp_path)

    first = init()
    assert "created" in first.stdout
    assert "first admin account: admin" in first.stdout
    password = re.search(r"one-time password \(shown once\): (\S+)", first.stdout)
    assert password and len(password.group(1)) >= 16
    assert "otpauth://totp/Kyso:admin?secret=" in first.stdout
    database = data_dir / "kyso.db"
    assert database.is_file(), "SQLite in the data directory is the default"
    secrets = {name: data_dir / name for name in ("master.key",)}
    for name, path in secrets.items():
        assert path.is_file(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert len(path.read_text().strip()) >= 32, name
    contents = {name: path.read_bytes() for name, path in secrets.items()}
    before = dump(database)
    assert "INSERT INTO" in before and "Kyso" in before

    second = init()
    assert "already present" in second.stdout
    assert "Traceback" not in second.stderr
    assert dump(database) == before
    assert {name: path.read_bytes() for name, path in secrets.items()} == contents
    assert "first admin" not in second.stdout and password.group(1) not in second.stdout


# -- the scripting contract on both databases ---------------------------------------------------------


def test_issue_list_show_chain_and_verify_with_openssl(instance: Instance, tmp_path: Path) -> None:
    certificates, keys = instance.counts()
    issued = kyso(instance, *ISSUE, "--cccd", CCCD, "--json")
    assert issued.returncode == 0, issued.stderr
    data = json.loads(issued.stdout)
    assert {"serial", "subject", "not_after", "certificate_pem"} <= data.keys()
    serial = data["serial"]
    assert int(serial, 16) > 0
    assert f"UID=CCCD:{CCCD}" in data["subject"]
    assert "CN=Nguyễn Văn An" in data["subject"]
    not_after = dt.datetime.fromisoformat(data["not_after"])
    assert not_after.tzinfo is not None
    certificate = x509.load_pem_x509_certificate(data["certificate_pem"].encode())
    assert certificate.serial_number == int(serial, 16)
    assert certificate.not_valid_after_utc == not_after
    assert instance.counts() == (certificates + 1, keys + 1)

    listed = kyso(instance, "ca", "list", "--cccd", CCCD, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [item["serial"] for item in json.loads(listed.stdout)["items"]] == [serial]

    shown = kyso(instance, "ca", "show", serial, "--pem")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == data["certificate_pem"]
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(shown.stdout)

    chain_file = tmp_path / "citizen-chain.pem"
    chain = kyso(instance, "ca", "chain", "--ca", "citizen", "-o", chain_file)
    assert chain.returncode == 0, chain.stderr
    chain_certificates = x509.load_pem_x509_certificates(chain_file.read_bytes())
    assert len(chain_certificates) == 2, "the citizen CA, then the root"
    citizen_ca, root = chain_certificates
    assert root.subject == root.issuer
    assert certificate.issuer == citizen_ca.subject
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    verified = run_tool("openssl", "verify", "-CAfile", root_file, "-untrusted", chain_file, leaf)
    assert verified.stdout.strip() == f"{leaf}: OK"


def test_revoke_then_refuse_to_revoke_again_or_reinstate(instance: Instance) -> None:
    with instance.db.transaction() as session:
        serial = instance.ca.issue(
            session,
            IssueRequest("citizen", SubjectFields(surname="Lê", given_name="Thị Hoa", cccd="079185001235")),
        ).certificate.serial

    revoked = kyso(instance, "ca", "revoke", serial, "--reason", "key-compromise", "--yes", "--json")
    assert revoked.returncode == 0, revoked.stderr
    assert (json.loads(revoked.stdout)["status"], json.loads(revoked.stdout)["revocation_reason"]) == (
        "revoked",
        "key-compromise",
    )
    counts = instance.counts()

    assert_refused(
        kyso(instance, "ca", "revoke", serial, "--reason", "superseded"), CONFLICT, "already revoked"
    )
    assert_refused(kyso(instance, "ca", "reinstate", serial), CONFLICT, "never be reinstated")
    assert instance.counts() == counts
    with instance.db.reading() as session:
        info = lifecycle.show(instance.ca, session, serial)
    assert (info.status, info.revocation_reason) == ("revoked", "key-compromise")


# -- SQLite only: deliveries and refused inputs -------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("cli-sqlite")
    inst = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    yield inst
    inst.db.dispose()


@pytest.fixture(scope="module")
def requests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CSRs made by openssl: a good P-256 one, an RSA-1024 one, and a P-256 one with a broken signature."""
    tmp = tmp_path_factory.mktemp("csr")
    made: dict[str, Path] = {}
    for name, key in (
        ("p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("rsa1024", ["-newkey", "rsa:1024"]),
    ):
        run_tool(
            "openssl", "req", "-new", *key, "-nodes", "-subj", "/CN=x",
            "-keyout", tmp / f"{name}.key", "-out", tmp / f"{name}.csr",
        )  # fmt: skip
        made[name] = tmp / f"{name}.csr"
        made[f"{name}-key"] = tmp / f"{name}.key"
    run_tool("openssl", "req", "-in", made["p256"], "-outform", "DER", "-out", tmp / "p256.der")
    der = bytearray((tmp / "p256.der").read_bytes())
    der[-1] ^= 0x01  # the last byte of the signature value
    body = "\n".join(textwrap.wrap(base64.b64encode(bytes(der)).decode(), 64))
    made["tampered"] = tmp / "tampered.csr"
    made["tampered"].write_text(
        f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"
    )
    return made


def test_pkcs12_delivery_is_private_and_readable_by_openssl(
    sqlite_instance: Instance, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("ngựa đúng pin kẹp giấy\nsecond line is ignored\n")
    p12 = tmp_path / "an.p12"
    certificates, keys = sqlite_instance.counts()
    issued = kyso(
        sqlite_instance, *ISSUE, "--cccd", CCCD, "--p12", p12, "--p12-password-file", password_file, "--json"
    )
    assert issued.returncode == 0, issued.stderr
    data = json.loads(issued.stdout)
    assert data["key_in_custody"] is False
    assert stat.S_IMODE(p12.stat().st_mode) == 0o600
    assert sqlite_instance.counts() == (certificates + 1, keys), "Kyso keeps no copy of a delivered key"

    # openssl 3.0 prints the UTF-8 friendlyName byte-truncated: read its output leniently
    opened = run_tool(
        "openssl", "pkcs12", "-in", p12, "-passin", f"file:{password_file}", "-nodes", "-info",
        errors="replace",
    )  # fmt: skip
    assert "Shrouded Keybag" in opened.stderr  # the private key is in it, encrypted
    assert "AES-256-CBC" in opened.stderr
    certificate = x509.load_pem_x509_certificates(opened.stdout.encode())[0]
    key = serialization.load_pem_private_key(opened.stdout.encode(), None)
    assert certificate.serial_number == int(data["serial"], 16)
    assert spki(key.public_key()) == spki(certificate.public_key())

    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    refused = run_tool("openssl", "pkcs12", "-in", p12, "-passin", f"file:{wrong}", "-noout", check=False)
    assert refused.returncode != 0


def test_issue_for_an_openssl_csr(
    sqlite_instance: Instance, requests: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cert.pem"
    certificates, keys = sqlite_instance.counts()
    issued = kyso(sqlite_instance, *ISSUE, "--cccd", CCCD, "--csr", requests["p256"], "--out", out, "--json")
    assert issued.returncode == 0, issued.stderr
    data = json.loads(issued.stdout)
    assert data["key_in_custody"] is False
    assert out.read_text() == data["certificate_pem"]
    certificate = x509.load_pem_x509_certificate(out.read_bytes())
    key = serialization.load_pem_private_key(requests["p256-key"].read_bytes(), None)
    assert spki(certificate.public_key()) == spki(key.public_key())
    assert f"UID=CCCD:{CCCD}" in data["subject"] and "CN=x" not in data["subject"]
    assert sqlite_instance.counts() == (certificates + 1, keys)


BAD_INPUTS = {
    "CCCD with 11 digits": ([*ISSUE, "--cccd", "07920300123"], "12 digits"),
    "bad province code": ([*ISSUE, "--cccd", "999203001234"], "province code"),
    "empty surname": (
        [
            "ca",
            "issue",
            "citizen",
            "--name",
            "Nguyễn Văn An",
            "--surname",
            "",
            "--given-name",
            "Văn An",
            "--cccd",
            CCCD,
        ],
        "surname is required",
    ),
    "RSA-1024 CSR": ([*ISSUE, "--cccd", CCCD, "--csr", "{rsa1024}"], "RSA-1024"),
    "CSR with a broken signature": ([*ISSUE, "--cccd", CCCD, "--csr", "{tampered}"], "signature"),
    "unknown profile": (["ca", "issue", "superhero", *NAME, "--cccd", CCCD], "unknown certificate profile"),
    "markup in the input": (["ca", "issue", "[/superhero]", *NAME, "--cccd", CCCD], "[/superhero]"),
    "CSR file missing": ([*ISSUE, "--cccd", CCCD, "--csr", "/nonexistent/r.csr"], "cannot read the CSR"),
    "p12 without a password file": ([*ISSUE, "--cccd", CCCD, "--p12", "x.p12"], "--p12-password-file"),
    "revoke an unknown serial": (["ca", "revoke", "0badc0ffee", "--reason", "superseded"], "0badc0ffee"),
}
EXIT_BY_CASE = {"revoke an unknown serial": NOT_FOUND}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_refused_in_one_line_and_writes_nothing(
    sqlite_instance: Instance, requests: dict[str, Path], case: str
) -> None:
    args, fragment = BAD_INPUTS[case]
    args = [a.format(**{k: str(v) for k, v in requests.items()}) if a.startswith("{") else a for a in args]
    before = sqlite_instance.counts()
    result = kyso(sqlite_instance, *args)
    assert_refused(result, EXIT_BY_CASE.get(case, MALFORMED), fragment)
    assert sqlite_instance.counts() == before


def test_names_are_printed_verbatim(sqlite_instance: Instance) -> None:
    """Square brackets are allowed in names; the human-readable output shows them, and does not crash
    after the certificate was already issued (an operator would retry and issue it twice)."""
    before_certificates, before_keys = sqlite_instance.counts()
    result = kyso(
        sqlite_instance, "ca", "issue", "citizen", "--surname", "Nguyễn [/i]", "--given-name", "Văn [b]An",
        "--cccd", "079203005678",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "CN=Nguyễn [/i] Văn [b]An" in result.stdout
    assert sqlite_instance.counts() == (before_certificates + 1, before_keys + 1)
