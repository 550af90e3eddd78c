"""`kyso verify`: the scripting contract (exit codes, --json shape) on real files."""

from __future__ import annotations

import json
import subprocess

import pytest

from signing.pades import Level
from tests.conftest import kyso, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, root_asn1, sign_bytes, signing_service
from tests.support.validators import pyhanko_verdicts


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify-cli")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    service = signing_service(instance)
    serial = issue_in_custody(instance, "official")
    files = {}
    for level in (Level.B_B, Level.B_LT):
        data, _ = sign_bytes(service, serial, sample_pdf(1), level=level)
        files[level] = tmp / f"{level.value}.pdf"
        files[level].write_bytes(data)
    yield instance, files
    instance.db.dispose()


def test_exit_zero_only_when_every_signature_passed(signed):
    instance, files = signed
    passed = kyso(instance, "verify", files[Level.B_LT], "--json")
    assert passed.returncode == 0, passed.stderr
    report = json.loads(passed.stdout)
    [signature] = report["signatures"]
    assert signature["indication"] == "TOTAL-PASSED" and signature["signer"]["name"] == "Trần Thị Bình"
    assert signature["signing_time"].endswith("+07:00") and report["trust_list"] == "Kyso"
    undecided = kyso(instance, "verify", files[Level.B_B])
    assert undecided.returncode == 1
    assert "CHƯA XÁC ĐỊNH" in undecided.stdout and "NOT checked" in undecided.stdout


def test_other_trust_file_and_bad_input(signed, tmp_path):
    instance, files = signed
    other = tmp_path / "other.pem"
    other.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert kyso(instance, "verify", files[Level.B_LT], "--trust", other).returncode == 2
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"this is not a pdf")
    refused = kyso(instance, "verify", junk)
    assert refused.returncode == 2 and "not a PDF" in refused.stderr
    listing = kyso(instance, "trust", "list", "--json")
    assert listing.returncode == 0 and json.loads(listing.stdout)["name"] == "Kyso"


def test_a_sealed_pdf_report(signed, tmp_path):
    """--pdf-report: the report as a PDF, sealed B-LT by the service's report seal; pyHanko validates it and
    pdftotext reads the verdict; verifying it again says who sealed it."""
    instance, files = signed
    out = tmp_path / "report.pdf"
    done = kyso(instance, "verify", files[Level.B_LT], "--pdf-report", out)
    assert done.returncode == 0, done.stderr
    [verdict] = pyhanko_verdicts(out.read_bytes(), root_asn1(instance))
    assert verdict.intact and verdict.valid and verdict.trusted and verdict.revocation_checked
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "HỢP LỆ / valid (TOTAL-PASSED)" in text and "Trần Thị Bình" in text
    again = json.loads(kyso(instance, "verify", out, "--json").stdout)
    [seal] = again["signatures"]
    assert seal["indication"] == "TOTAL-PASSED" and seal["pades_level"] == "B-LT"
    assert seal["signer"]["tax_code"] == "0319999996" and "Kyso" in seal["signer"]["name"]
    second = tmp_path / "second.pdf"
    assert kyso(instance, "verify", files[Level.B_B], "--pdf-report", second).returncode == 1
    assert "CHƯA XÁC ĐỊNH" in subprocess.run(["pdftotext", str(second), "-"], capture_output=True,
                                             text=True).stdout  # fmt: skip


def test_fetching_revocation_from_the_service(signed):
    """--fetch-revocation asks this service's responder: a B-B file then has its signer's status checked."""
    instance, files = signed
    fetched = kyso(instance, "verify", files[Level.B_B], "--fetch-revocation", "--json")
    [signature] = json.loads(fetched.stdout)["signatures"]
    assert signature["revocation"] == "fetched", fetched.stdout
    assert fetched.returncode == 0 and signature["indication"] == "TOTAL-PASSED"
