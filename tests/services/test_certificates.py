"""services.certificates called directly, as the shells call it: each change and its audit entry are
written in one transaction, so a refused change leaves no entry and a failed entry leaves no change."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from ca import bulk
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from core.errors import Kind, ServiceError
from identity import audit
from services import certificates
from services.audit import Actor
from services.root import Kyso
from tests.conftest import Instance

ALICE = Actor("alice", "203.0.113.9", 7, "ca-operator")
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


def citizen() -> IssueRequest:
    cccd = f"079204{next(_numbers):06d}"
    return IssueRequest("citizen", SubjectFields(surname="Trần", given_name="Thị Bình", cccd=cccd))


def entries_for(kyso: Kyso, serial: str) -> list[tuple[str, str, str | None, str, dict]]:
    """(actor, action, source, outcome, details) of every entry naming ``serial``, oldest first."""
    with kyso.db.reading() as session:
        found = audit.concerning(session, serial, 100)
    return [(e.actor, e.action, e.source, e.outcome, e.details) for e in reversed(found)]


def test_issue_writes_its_entry_with_the_profile(kyso: Kyso) -> None:
    issued = certificates.issue(kyso, ALICE, citizen())
    serial = issued.certificate.serial
    assert issued.certificate.status == "valid"
    assert entries_for(kyso, serial) == [
        ("alice", "certificate.issue", "203.0.113.9", "success", {"profile": "citizen"})
    ]


def test_a_refused_issue_writes_no_entry(kyso: Kyso) -> None:
    with kyso.db.reading() as session:
        head = audit.current_head(session)
    bad = IssueRequest("citizen", SubjectFields(surname="Trần", given_name="Bình", cccd="123"))
    with pytest.raises(ServiceError):
        certificates.issue(kyso, ALICE, bad)
    with kyso.db.reading() as session:
        assert audit.current_head(session) == head


def test_revoke_records_the_reason_and_a_second_revocation_is_refused_without_an_entry(kyso: Kyso) -> None:
    serial = certificates.issue(kyso, ALICE, citizen()).certificate.serial
    info = certificates.revoke(kyso, Actor("bob", "cli"), serial, "key-compromise")
    assert (info.status, info.revocation_reason) == ("revoked", "key-compromise")
    with pytest.raises(ServiceError) as refused:
        certificates.revoke(kyso, ALICE, serial, "superseded")
    assert refused.value.kind is Kind.CONFLICT
    assert [e[:2] for e in entries_for(kyso, serial)] == [
        ("alice", "certificate.issue"),
        ("bob", "certificate.revoke"),
    ]
    assert entries_for(kyso, serial)[1][2:] == ("cli", "success", {"reason": "key-compromise"})


def test_suspend_and_reinstate_record_no_details(kyso: Kyso) -> None:
    serial = certificates.issue(kyso, ALICE, citizen()).certificate.serial
    assert certificates.suspend(kyso, ALICE, serial).status == "suspended"
    assert certificates.reinstate(kyso, ALICE, serial).status == "valid"
    with pytest.raises(ServiceError):  # not suspended any more
        certificates.reinstate(kyso, ALICE, serial)
    assert entries_for(kyso, serial)[1:] == [
        ("alice", "certificate.suspend", "203.0.113.9", "success", {}),
        ("alice", "certificate.reinstate", "203.0.113.9", "success", {}),
    ]


def test_renew_names_the_old_serial_and_revokes_it(kyso: Kyso) -> None:
    old = certificates.issue(kyso, ALICE, citizen()).certificate.serial
    issued = certificates.renew(kyso, ALICE, old)
    new = issued.certificate.serial
    assert issued.certificate.renewed_from == old
    assert certificates.show(kyso, old).revocation_reason == "superseded"
    assert entries_for(kyso, new) == [
        ("alice", "certificate.renew", "203.0.113.9", "success", {"renews": old})
    ]


def test_the_change_and_its_entry_share_a_transaction(kyso: Kyso, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit entry that cannot be written undoes the change it was for."""
    serial = certificates.issue(kyso, ALICE, citizen()).certificate.serial

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(certificates, "record", refuse)
    with pytest.raises(RuntimeError):
        certificates.revoke(kyso, ALICE, serial, "key-compromise")
    with pytest.raises(RuntimeError):
        certificates.suspend(kyso, ALICE, serial)
    assert certificates.show(kyso, serial).status == "valid"


def test_search_finds_what_was_issued(kyso: Kyso) -> None:
    request = citizen()
    serial = certificates.issue(kyso, ALICE, request).certificate.serial
    items, total = certificates.search(kyso, cccd=request.subject.cccd)
    assert (total, [i.serial for i in items]) == (1, [serial])


def test_a_bulk_run_audits_each_certificate_and_resumes_without_a_second_entry(
    kyso: Kyso, tmp_path: Path
) -> None:
    path = tmp_path / "ward.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cccd", "surname", "given_name"])
        for _ in range(3):
            writer.writerow([f"079205{next(_numbers):06d}", "Lê", "Văn Cường"])
        writer.writerow(["07912", "Lê", "Văn Sai"])  # too short: refused, no certificate, no entry
    source = bulk.read_csv(path)
    assert certificates.start_bulk_run(kyso, source) == set()
    outcomes = list(certificates.bulk_issue(kyso, ALICE, source, set(), workers=1))
    assert [o.outcome for o in outcomes] == ["issued", "issued", "issued", "failed"]
    totals = certificates.finish_bulk_run(kyso, source, tmp_path / "results.csv")
    assert (totals["issued"], totals["failed"]) == (3, 1)
    for outcome in outcomes[:3]:
        assert outcome.serial is not None
        assert entries_for(kyso, outcome.serial) == [
            ("alice", "certificate.issue", "203.0.113.9", "success", {"via": "bulk-issue"})
        ]
    done = certificates.start_bulk_run(kyso, source)  # the same file again: everything is done
    assert done == {1, 2, 3, 4}
    assert list(certificates.bulk_issue(kyso, ALICE, source, done, workers=1)) == []
