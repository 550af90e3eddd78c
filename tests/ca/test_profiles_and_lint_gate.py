"""Profiles are checked when loaded; a profile that breaks ETSI rules never gets a certificate signed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ca.issuance import IssueRequest, LintFailed
from ca.lint import Finding
from ca.profiles import PROFILES_FILE, default_profiles, load_profiles
from ca.subjects import SubjectFields
from tests.conftest import Instance

CITIZEN = SubjectFields(surname="Lê", given_name="Văn Cường", cccd="048090123456")


def test_shipped_profiles_load() -> None:
    profiles = default_profiles()
    assert {"citizen", "official", "agency-seal", "root-ca", "issuing-ca", "ocsp-responder", "tsa"} <= set(
        profiles
    )
    assert profiles["citizen"].key_usage == {"content_commitment"}


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (('issuer = "citizen"', 'issuer = "nobody"'), "issuer must be one of"),
        (("validity_days = 730", "validity_days = 0"), "validity_days"),
        (('key_usage = ["content_commitment"]', 'key_usage = ["sign_everything"]'), "key_usage"),
        (('description = "Citizen', 'colour = "blue"\ndescription = "Citizen'), "unknown keys"),
        (('"0.4.0.2042.1.1", "1.3.6.1.4.1.32473.1.1.1"', '"not-an-oid"'), "not an OID"),
    ],
)
def test_broken_profile_files_are_refused_when_loaded(
    tmp_path: Path, edit: tuple[str, str], problem: str
) -> None:
    text = PROFILES_FILE.read_text()
    assert edit[0] in text
    broken = tmp_path / "profiles.toml"
    broken.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ValueError, match=problem):
        load_profiles(broken)


def test_a_profile_without_certificate_policies_is_refused_by_lint(shared_instance: Instance) -> None:
    ca = shared_instance.ca
    original = ca.profiles
    broken = dict(original)
    broken["citizen"] = dataclasses.replace(original["citizen"], policies=())
    before = shared_instance.counts()
    ca.profiles = broken
    try:
        with pytest.raises(LintFailed) as caught, shared_instance.db.transaction() as session:
            ca.issue(session, IssueRequest("citizen", CITIZEN))
    finally:
        ca.profiles = original
    codes = {f.code for f in caught.value.findings if f.severity in ("ERROR", "FATAL")}
    assert "etsi.en_319_412_2.certificate_policies_extension_absent" in codes
    assert "not signed" in caught.value.message
    assert shared_instance.counts() == before  # no certificate row, no custody key


def test_lint_failures_in_a_batch_leave_nothing_behind(shared_instance: Instance) -> None:
    """issue_many: the refused request is discarded, its neighbours are issued."""
    ca = shared_instance.ca
    linter = ca.linter
    before = shared_instance.counts()

    def lint_many(ders: list[bytes], types: list[str]) -> list[list[Finding]]:
        findings = [linter.lint(d, t) for d, t in zip(ders, types, strict=True)]
        findings[1] = [*findings[1], Finding("ERROR", "test.forced", None, "certificate")]
        return findings

    requests = [
        IssueRequest("citizen", dataclasses.replace(CITIZEN, given_name=f"Văn {i}")) for i in range(3)
    ]
    with shared_instance.db.transaction() as session:
        results = ca.issue_many(session, requests, lint_many)
    assert [type(r).__name__ for r in results] == ["Issued", "LintFailed", "Issued"]
    assert shared_instance.counts() == (before[0] + 2, before[1] + 2)
