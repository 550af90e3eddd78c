"""`kyso sign` and `kyso user bind-cert` as an operator uses them, including a 50 MB document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ca import lifecycle
from store.models import AuditEntry, SigningCredential
from tests.conftest import VENV_BIN, Instance, kyso, make_account, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder, issue_in_custody, root_asn1
from tests.support.validators import pyhanko_verdicts


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("sign-cli")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    serial = issue_in_custody(instance, "official")
    yield instance, serial, tmp
    instance.db.dispose()


def test_sign_writes_a_valid_b_lt_pdf_and_records_it(setup) -> None:
    instance, serial, tmp = setup
    source, target = tmp / "decision.pdf", tmp / "decision-signed.pdf"
    source.write_bytes(sample_pdf(2))
    result = kyso(instance, "sign", source, "-o", target, "--cert", serial, "--level", "b-lt",
                  "--title", "Phó Chủ tịch", "--reference-number", "123/QĐ-UBND", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["level"] == "b-lt" and report["verify_url"].endswith(f"/verify/{report['id']}")
    [verdict] = pyhanko_verdicts(target.read_bytes(), root_asn1(instance))
    assert verdict.intact and verdict.trusted and verdict.revocation_checked
    with instance.db.reading() as session:
        entry = session.query(AuditEntry).filter(AuditEntry.target == report["id"]).one()
    assert entry.action == "document.sign" and entry.source == "cli"


def test_sign_refuses_bad_input_without_writing_anything(setup) -> None:
    instance, serial, tmp = setup
    not_pdf, target = tmp / "photo.pdf", tmp / "never.pdf"
    not_pdf.write_bytes(b"\x89PNG\r\n\x1a\n not a pdf")
    cases = [
        (["sign", not_pdf, "-o", target, "--cert", serial], 2, "is not a PDF"),
        (["sign", tmp / "missing.pdf", "-o", target, "--cert", serial], 2, "not a readable file"),
        (["sign", not_pdf, "-o", target, "--cert", "ab" * 10], 3, "no certificate"),
        (["sign", not_pdf, "-o", target, "--cert", serial, "--level", "b-x"], 2, "unknown PAdES level"),
    ]
    for args, code, message in cases:
        result = kyso(instance, *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not target.exists()


def test_sign_refuses_a_revoked_certificate(tmp_path: Path) -> None:
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")
    serial = issue_in_custody(instance, "citizen")
    with instance.db.transaction() as session:
        lifecycle.revoke(instance.ca, session, serial, reason="key-compromise")
    source = tmp_path / "a.pdf"
    source.write_bytes(sample_pdf(1))
    result = kyso(instance, "sign", source, "-o", tmp_path / "b.pdf", "--cert", serial)
    assert result.returncode == 5 and "revoked" in result.stderr
    assert not (tmp_path / "b.pdf").exists()
    instance.db.dispose()


def test_bind_cert_lets_an_official_sign_with_it(setup) -> None:
    instance, _, tmp = setup
    official, serial = holder(instance, "official")
    result = kyso(instance, "user", "bind-cert", official.username, serial, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["purpose"] == "sign"
    with instance.db.reading() as session:
        assert session.query(SigningCredential).filter_by(certificate_serial=serial).count() == 1
    again = kyso(instance, "user", "bind-cert", official.username, serial)
    assert again.returncode == 4 and "already bound" in again.stderr
    source, target = tmp / "own.pdf", tmp / "own-signed.pdf"
    source.write_bytes(sample_pdf(1))
    signed = kyso(instance, "sign", source, "-o", target, "--cert", serial, "--level", "b-b")
    assert signed.returncode == 0, signed.stderr


def _one_line(result, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bind_cert_refuses_another_persons_certificate(setup) -> None:
    """Issue 16: the certificate of official A (setup's, CCCD of Trần Thị Bình) bound to official B."""
    instance, serial_of_binh, _ = setup
    lan, _ = holder(instance, "official")
    _one_line(kyso(instance, "user", "bind-cert", lan.username, serial_of_binh), 2, "names another person")
    nobody = make_account(instance, "official")  # an account with no CCCD is nobody's holder
    _one_line(kyso(instance, "user", "bind-cert", nobody.username, serial_of_binh), 2, "has no CCCD")
    with instance.db.reading() as session:
        assert session.query(SigningCredential).filter_by(certificate_serial=serial_of_binh).count() == 0


def test_bind_cert_binds_a_seal_to_one_member_of_its_agency(setup) -> None:
    instance, _, _ = setup
    first, seal = holder(instance, "clerk", organization="UBND Phường Phạm Ngũ Lão")
    second, _ = holder(instance, "clerk", organization="UBND Phường Phạm Ngũ Lão")
    outsider, _ = holder(instance, "clerk", organization="UBND Phường Cô Giang")
    _one_line(kyso(instance, "user", "bind-cert", outsider.username, seal), 2, "not a member")
    assert kyso(instance, "user", "bind-cert", first.username, seal).returncode == 0
    _one_line(
        kyso(instance, "user", "bind-cert", second.username, seal), 4, f"bound to account {first.username}"
    )


def _peak_rss_kib(instance: Instance, *args: object) -> int:
    """Run `kyso …` as a child and return its peak resident set size (KiB)."""
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(VENV_BIN / "kyso"), *map(str, args)],
        capture_output=True, text=True, env=instance.env(), cwd=instance.settings.data_dir.parent,
    )  # fmt: skip
    code, peak = result.stdout.split()
    assert code == "0", result.stderr
    return int(peak)


def test_a_50_mb_pdf_signs_within_four_times_its_size(setup) -> None:
    instance, serial, tmp = setup
    big = tmp / "big.pdf"
    big.write_bytes(sample_pdf(1, payload_bytes=50 << 20))
    size_kib = big.stat().st_size // 1024
    peak = _peak_rss_kib(
        instance, "sign", big, "-o", tmp / "big-signed.pdf", "--cert", serial, "--level", "b-t"
    )
    assert peak < 4 * size_kib, f"peak {peak} KiB for a {size_kib} KiB document"
    [verdict] = pyhanko_verdicts((tmp / "big-signed.pdf").read_bytes(), root_asn1(instance))
    assert verdict.intact and verdict.valid
