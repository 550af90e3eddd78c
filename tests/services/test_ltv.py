"""Extending signed PDFs for the long term, as a records clerk does it: `kyso ltv`, the API route and the
archive renewal (`kyso archive-renew`, the worker's job). What was added is checked by tools that are not
Kyso's: pyHanko validating from the file's DSS alone with hard-fail revocation (no fetching, nothing
supplied), and pdfsig; Kyso's own verifier names the level reached."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError

from api.app import create_app
from core.errors import ServiceError
from services import ltv
from services.audit import Actor
from services.root import Kyso
from services.worker import JOBS
from signing import extend
from signing.pades import Level
from tests.conftest import Instance, bearer, kyso, make_account
from tests.support.pdfs import sample_pdf
from tests.support.signing import (
    issue_in_custody,
    nss_database,
    pdfsig,
    root_asn1,
    root_pem,
    sign_bytes,
    signing_service,
)
from verification.trust import TrustStore
from verification.validate import Verifier

CLERK = Actor("clerk1", "203.0.113.7", 9, "clerk")


@pytest.fixture(scope="module")
def service(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


@pytest.fixture(scope="module")
def signed(shared_instance: Instance) -> dict[Level, bytes]:
    """One document signed by the service at each level below B-LTA."""
    signer = signing_service(shared_instance)
    serial = issue_in_custody(shared_instance)
    return {
        level: sign_bytes(signer, serial, sample_pdf(1), level=level)[0]
        for level in (Level.B_B, Level.B_T, Level.B_LT)
    }


def pyhanko_from_dss_alone(instance: Instance, data: bytes) -> tuple[bool, list[bool]]:
    """(the signature, each document timestamp) valid for pyHanko with only the file's DSS as revocation
    data, hard-fail: what a relying party offline years from now can still check."""
    reader = PdfFileReader(io.BytesIO(data))

    def context():  # a fresh one per check: pyHanko's contexts remember what they have seen
        return DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [root_asn1(instance)], "allow_fetching": False, "revocation_mode": "hard-fail"}
        )

    status = validate_pdf_signature(reader.embedded_regular_signatures[0], context())
    stamps = [validate_pdf_timestamp(t, context()).valid for t in reader.embedded_timestamp_signatures]
    return status.bottom_line, stamps


def kyso_level(instance: Instance, data: bytes) -> tuple[str, str | None]:
    trust = TrustStore.from_pem("Kyso", root_pem(instance))
    report = asyncio.run(Verifier(trust).verify(data))
    return report.indication.value, report.signatures[0].pades_level


@pytest.mark.parametrize("start", [Level.B_B, Level.B_T, Level.B_LT])
def test_a_signature_is_extended_to_b_lta_and_others_can_check_it_offline(
    shared_instance: Instance, service: Kyso, signed: dict[Level, bytes], start: Level
) -> None:
    original = signed[start]
    if start is not Level.B_LT:
        with pytest.raises(NoDSSFoundError):  # before: nothing an offline relying party could use
            pyhanko_from_dss_alone(shared_instance, original)
    extended = ltv.extend_document(service, CLERK, original, Level.B_LTA)
    assert (extended.level_before, extended.level_after) == (start, Level.B_LTA)
    assert extended.pdf.startswith(original)  # incremental updates only: the signed bytes are untouched
    signature_ok, stamps = pyhanko_from_dss_alone(shared_instance, extended.pdf)
    assert signature_ok and stamps and all(stamps)
    assert kyso_level(shared_instance, extended.pdf) == ("TOTAL-PASSED", "B-LTA")
    [facts] = extended.signatures
    assert facts.validation_data and facts.timestamped and facts.problem is None


def test_b_b_to_b_t_adds_only_a_document_timestamp(service: Kyso, signed: dict[Level, bytes]) -> None:
    extended = ltv.extend_document(service, CLERK, signed[Level.B_B], Level.B_T)
    assert extended.steps == (extend.Step.DOCUMENT_TIMESTAMP,)
    assert extended.level_after is Level.B_T
    assert extend.level_of(extended.pdf) is Level.B_T


def test_pdfsig_still_finds_the_signature_intact(
    shared_instance: Instance, service: Kyso, signed: dict[Level, bytes], tmp_path: Path
) -> None:
    extended = ltv.extend_document(service, CLERK, signed[Level.B_T], Level.B_LTA)
    path = tmp_path / "extended.pdf"
    path.write_bytes(extended.pdf)
    theirs = pdfsig(path, nss_database(tmp_path / "nss", root_pem(shared_instance)))
    assert len(theirs) == 2  # the signature and the document timestamp
    assert theirs[0].signature_valid and theirs[0].certificate_trusted, theirs[0].raw


def test_what_cannot_be_extended_is_refused_in_a_sentence(service: Kyso) -> None:
    with pytest.raises(ServiceError, match="no signature to extend"):
        ltv.extend_document(service, CLERK, sample_pdf(1), Level.B_LTA)
    with pytest.raises(ServiceError, match="not a readable PDF"):
        ltv.extend_document(service, CLERK, b"%PDF-1.7 nonsense", Level.B_LTA)
    with pytest.raises(ServiceError, match="b-b is where a signature starts"):
        ltv.extend_document(service, CLERK, sample_pdf(1), Level.B_B)


def test_the_cli_extends_a_file_and_says_what_it_did(
    shared_instance: Instance, signed: dict[Level, bytes], tmp_path: Path
) -> None:
    source, output = tmp_path / "decision.pdf", tmp_path / "decision-lta.pdf"
    source.write_bytes(signed[Level.B_B])
    result = kyso(shared_instance, "ltv", source, "-o", output, "--json")
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    assert (said["level_before"], said["level_after"]) == ("b-b", "b-lta")
    assert said["steps"] == ["document-timestamp", "validation-data", "document-timestamp"]
    assert pyhanko_from_dss_alone(shared_instance, output.read_bytes())[0]
    again = kyso(shared_instance, "ltv", source, "-o", output)
    assert again.returncode != 0 and "exists" in again.stderr and "Traceback" not in again.stderr
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(sample_pdf(1))
    refused = kyso(shared_instance, "ltv", unsigned, "-o", tmp_path / "x.pdf")
    assert refused.returncode != 0 and "no signature to extend" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "x.pdf").exists()


def test_the_api_extends_for_a_clerk_and_refuses_others(
    shared_instance: Instance, signed: dict[Level, bytes]
) -> None:
    with TestClient(create_app(shared_instance.settings, clock=shared_instance.ca.clock)) as client:
        files = {"document": ("d.pdf", signed[Level.B_T], "application/pdf")}
        assert client.post("/api/v1/documents/extend", files=files).status_code == 401
        citizen = bearer(client, make_account(shared_instance, "citizen", cccd="079185009876"))
        assert client.post("/api/v1/documents/extend", files=files, headers=citizen).status_code == 403
        clerk = bearer(client, make_account(shared_instance, "clerk"))
        answer = client.post("/api/v1/documents/extend?level=b-lta", files=files, headers=clerk)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert (answer.headers["x-kyso-level-before"], answer.headers["x-kyso-level-after"]) == (
            "b-t",
            "b-lta",
        )
        assert pyhanko_from_dss_alone(shared_instance, answer.content)[0]
        unsigned = {"document": ("u.pdf", sample_pdf(1), "application/pdf")}
        refused = client.post("/api/v1/documents/extend", files=unsigned, headers=clerk)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "no signature to extend" in refused.json()["detail"]
        wrong_level = client.post("/api/v1/documents/extend?level=b-x", files=files, headers=clerk)
        assert wrong_level.status_code == 422


def test_the_archive_is_renewed_when_due_and_left_alone_when_not(
    shared_instance: Instance, service: Kyso, signed: dict[Level, bytes], tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    (archive / "2026").mkdir(parents=True)
    lta = ltv.extend_document(service, CLERK, signed[Level.B_LT], Level.B_LTA).pdf
    kept = archive / "2026" / "decision.pdf"
    kept.write_bytes(lta)
    broken = archive / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7 this is not a document")
    # the TSA certificate is valid for years: nothing is due with the default 90 days
    found = {Path(r.path).name: r for r in ltv.renew_archive(service, Actor.SYSTEM, archive)}
    assert found["broken.pdf"].error and not found["broken.pdf"].renewed
    assert not found["decision.pdf"].renewed and "valid until" in found["decision.pdf"].reason
    assert kept.read_bytes() == lta and broken.read_bytes().startswith(b"%PDF-1.7 this")
    # within the window (as it will be, years from now): renewed, in place, still valid
    window = dt.timedelta(days=36_500)
    results = ltv.renew_archive(service, Actor.SYSTEM, archive, renew_before=window)
    assert {Path(r.path).name: r.renewed for r in results} == {"broken.pdf": False, "decision.pdf": True}
    renewed = kept.read_bytes()
    assert renewed.startswith(lta) and len(renewed) > len(lta)
    signature_ok, stamps = pyhanko_from_dss_alone(shared_instance, renewed)
    assert signature_ok and len(stamps) == 2 and all(stamps)
    assert not [p for p in archive.rglob("*") if p.name.endswith(".renewing")]


def test_a_renewal_that_fails_midway_leaves_the_archived_file_whole(
    service: Kyso, signed: dict[Level, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lta = ltv.extend_document(service, CLERK, signed[Level.B_LT], Level.B_LTA).pdf
    path = tmp_path / "decision.pdf"
    path.write_bytes(lta)

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        ltv.renew_archive(service, Actor.SYSTEM, tmp_path, renew_before=dt.timedelta(days=36_500))
    assert path.read_bytes() == lta
    assert [p.name for p in tmp_path.iterdir()] == ["decision.pdf"]


def test_the_cli_renews_an_archive_and_exits_non_zero_on_a_bad_file(
    shared_instance: Instance, service: Kyso, signed: dict[Level, bytes], tmp_path: Path
) -> None:
    path = tmp_path / "decision.pdf"
    path.write_bytes(ltv.extend_document(service, CLERK, signed[Level.B_LT], Level.B_LTA).pdf)
    dry = kyso(shared_instance, "archive-renew", tmp_path, "--days", "3650", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)[0]["renewed"] is False
    (tmp_path / "bad.pdf").write_bytes(b"not a pdf")
    run = kyso(shared_instance, "archive-renew", tmp_path, "--days", "3650")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "renewed" in run.stdout and "error" in run.stdout


def test_the_worker_renews_only_with_an_archive_directory(service: Kyso) -> None:
    [job] = [job for job in JOBS if job.name == "archive-renew"]
    assert service.settings.archive_dir is None
    assert job.run(service) is None
    assert job.first is not None and job.first < job.every  # soon after a restart, then daily
