"""Serials as operators type them: a unique prefix (any case, ':' allowed) wherever a serial is taken,
one line and a non-zero exit for an ambiguous, unknown or too short one; whole serials in tables at 80
columns; `kyso ca revoke` asks first; and no instance means a message naming the directory, not a new
empty database."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.common
from ca import lifecycle
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from cli.common import EXIT_CODES
from cli.main import app
from core.errors import Kind
from store.models import Certificate
from tests.conftest import VENV_BIN, Instance, kyso, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_to, new_cccd

MALFORMED, NOT_FOUND, UNAVAILABLE = (
    EXIT_CODES[k] for k in (Kind.MALFORMED, Kind.NOT_FOUND, Kind.UNAVAILABLE)
)


def run(instance: Instance, *args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), env=instance.env(), input=input, catch_exceptions=False)


def assert_one_line_refusal(result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def citizen(instance: Instance, given_name: str, cccd: str) -> str:
    with instance.db.transaction() as session:
        subject = SubjectFields(surname="Lê", given_name=given_name, cccd=cccd)
        return instance.ca.issue(session, IssueRequest("citizen", subject)).certificate.serial


def status_of(instance: Instance, serial: str) -> str:
    with instance.db.reading() as session:
        return lifecycle.show(instance.ca, session, serial).status


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("serials")
    inst = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    yield inst
    inst.db.dispose()


@pytest.fixture(scope="module")
def twins(instance: Instance) -> tuple[str, str]:
    """Two certificates whose serials share their first 8 hex digits (one serial rewritten to make it so)."""
    first = citizen(instance, "Thị Hoa", "079185001235")
    second = citizen(instance, "Thị Lan", "079185001236")
    with instance.db.transaction() as session:
        row = session.query(Certificate).filter_by(serial=second).one()
        row.serial = first[:8] + second[8:]
    return first, first[:8] + second[8:]


def test_a_unique_prefix_names_the_certificate(instance: Instance, twins: tuple[str, str]) -> None:
    serial = citizen(instance, "Văn Minh", "079185001237")
    typed = ":".join(serial[i : i + 2] for i in range(0, 10, 2)).upper()  # e.g. 5E:1A:…, as openssl prints it
    shown = run(instance, "ca", "show", typed, "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["serial"] == serial
    assert json.loads(run(instance, "ca", "status", serial[:6], "--json").stdout)["serial"] == serial
    suspended = run(instance, "ca", "suspend", serial[:6])
    assert suspended.exit_code == 0 and f"certificate {serial} suspended" in suspended.stdout
    assert run(instance, "ca", "reinstate", serial[:6]).exit_code == 0
    assert status_of(instance, serial) == "valid"
    first, _ = twins
    assert json.loads(run(instance, "ca", "show", first[:10], "--json").stdout)["serial"] == first


def test_an_ambiguous_prefix_lists_the_candidates(instance: Instance, twins: tuple[str, str]) -> None:
    first, second = twins
    for command in (["ca", "show"], ["ca", "suspend"], ["ca", "revoke"], ["ca", "renew"], ["ca", "status"]):
        result = run(instance, *command, first[:8].upper())
        assert_one_line_refusal(result, MALFORMED, "ambiguous", first, second, "Lê Thị Hoa")
    assert status_of(instance, first) == status_of(instance, second) == "valid"


def test_unknown_or_too_short_or_not_hex(instance: Instance) -> None:
    assert_one_line_refusal(run(instance, "ca", "show", "0badc0ffee"), NOT_FOUND, "0badc0ffee")
    assert_one_line_refusal(run(instance, "ca", "revoke", "0badc0ffee", "--yes"), NOT_FOUND, "0badc0ffee")
    assert_one_line_refusal(run(instance, "ca", "show", "ab"), MALFORMED, "4 hex digits")
    assert_one_line_refusal(run(instance, "ca", "show", "xyz!"), MALFORMED, "hexadecimal")


def test_revoke_asks_on_a_terminal(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = citizen(instance, "Thị Mai", "079185001238")
    refused = run(instance, "ca", "revoke", serial[:8], "--reason", "superseded")  # stdin is no terminal
    assert_one_line_refusal(refused, MALFORMED, "not a terminal", "--yes")
    assert status_of(instance, serial) == "valid"

    monkeypatch.setattr(cli.common, "stdin_is_terminal", lambda: True)
    declined = run(instance, "ca", "revoke", serial[:8], "--reason", "superseded", input="n\n")
    assert declined.exit_code == 1
    assert serial in declined.stderr and "Lê Thị Mai" in declined.stderr and "cancelled" in declined.stderr
    assert status_of(instance, serial) == "valid"
    accepted = run(instance, "ca", "revoke", serial[:8], "--reason", "superseded", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert f"certificate {serial} revoked" in accepted.stdout
    assert status_of(instance, serial) == "revoked"


@pytest.mark.parametrize("flag", ["--yes", "-y"])
def test_revoke_yes_does_not_ask(instance: Instance, flag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = citizen(instance, "Thị Thu", "079185001239" if flag == "--yes" else "079185001240")
    monkeypatch.setattr(cli.common, "stdin_is_terminal", lambda: True)
    result = run(instance, "ca", "revoke", serial[:8], "--reason", "key-compromise", flag, "--json")
    assert result.exit_code == 0, result.output
    assert "Revoke" not in result.stderr
    assert json.loads(result.stdout)["revocation_reason"] == "key-compromise"


def test_bind_cert_and_sign_take_a_prefix(instance: Instance, tmp_path: Path) -> None:
    cccd = new_cccd()
    serial = issue_to(instance, cccd, "official")
    added = run(
        instance, "user", "add", "clerk.binh", "--role", "official", "--cccd", cccd, "--no-totp",
        "--display-name", "B",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    bound = run(instance, "user", "bind-cert", "clerk.binh", serial[:8].upper(), "--json")
    assert bound.exit_code == 0, bound.output
    assert json.loads(bound.stdout)["certificate_serial"] == serial
    source = tmp_path / "in.pdf"
    source.write_bytes(sample_pdf(1))
    signed = run(
        instance, "sign", str(source), "-o", str(tmp_path / "out.pdf"), "--cert", serial[:8], "--level", "b-b"
    )
    assert signed.exit_code == 0, signed.output
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    unknown = run(instance, "sign", str(source), "-o", str(tmp_path / "x.pdf"), "--cert", "0badc0ffee")
    assert_one_line_refusal(unknown, NOT_FOUND, "0badc0ffee")


def test_list_shows_whole_serials_at_80_columns(instance: Instance) -> None:
    result = kyso(instance, "ca", "list", "--limit", "1000", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    with instance.db.reading() as session:
        serials = [s for (s,) in session.query(Certificate.serial).filter(Certificate.status != "reserved")]
    for serial in serials:
        assert serial in result.stdout, serial


NO_INSTANCE = [["ca", "list"], ["ca", "revoke", "abcdef", "--yes"], ["user", "list"], ["trust", "list"]]


@pytest.mark.parametrize("args", NO_INSTANCE, ids=[" ".join(a) for a in NO_INSTANCE])
def test_no_instance_names_the_directory_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    unset = {name: None for name in os.environ if name.startswith("KYSO_")}
    result = CliRunner().invoke(app, args, env=unset, catch_exceptions=False)
    assert_one_line_refusal(result, UNAVAILABLE, f"no Kyso instance in {tmp_path / 'var'}", "KYSO_DATA_DIR")
    assert list(tmp_path.iterdir()) == []


def test_no_instance_with_the_real_executable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(sample_pdf(1))
    result = subprocess.run(
        [str(VENV_BIN / "kyso"), "verify", "in.pdf"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == UNAVAILABLE, result.stderr
    assert result.stderr.strip() == (
        f"error: no Kyso instance in {tmp_path / 'var'} (set KYSO_DATA_DIR or run from the instance's "
        "directory; `kyso init` creates a new one)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]
