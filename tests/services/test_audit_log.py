"""services.audit_log called directly: the seal is signed with the TSA's key and timestamped, verify
checks it with that key, an altered entry is named, and reading and exporting see the chain in order."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms
from sqlalchemy import func, select, text

from core.errors import Kind, ServiceError
from services import audit_log
from services.audit import Actor, record
from services.root import Kyso
from store.models import AuditSeal
from tests.conftest import DATABASES, make_instance, new_database_url

ALICE = Actor("alice", "203.0.113.9", 7, "auditor")


@pytest.fixture(scope="module", params=DATABASES)
def audited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kyso]:
    tmp = tmp_path_factory.mktemp("audit-log")
    inst = make_instance(tmp, new_database_url(request.param, tmp, request))
    yield Kyso(inst.settings, inst.ca.clock, inst.runtime)
    inst.db.dispose()


def sql(kyso: Kyso, *statements: str) -> None:
    with kyso.db.transaction() as session:
        for statement in statements:
            session.execute(text(statement))


@pytest.fixture
def kyso(audited: Kyso) -> Kyso:
    """The instance with an empty audit log."""
    sql(audited, "DELETE FROM audit_seals", "DELETE FROM audit_entries", "DELETE FROM audit_head")
    return audited


def append(kyso: Kyso, count: int) -> None:
    for i in range(count):
        with kyso.db.transaction() as session:
            record(session, kyso, ALICE, "certificate.issue", f"5e1a{i}", profile="citizen")


def seals(kyso: Kyso) -> int:
    with kyso.db.reading() as session:
        return session.scalar(select(func.count()).select_from(AuditSeal)) or 0


def test_an_empty_log_is_not_sealed(kyso: Kyso) -> None:
    with pytest.raises(ServiceError) as refused:
        audit_log.seal_head(kyso)
    assert refused.value.kind is Kind.CONFLICT
    assert seals(kyso) == 0


def test_a_seal_is_signed_timestamped_and_verified_with_the_tsa_key(kyso: Kyso) -> None:
    append(kyso, 4)
    sealed = audit_log.seal_head(kyso)
    assert sealed.seq == 4
    assert sealed.timestamp_token is not None
    assert cms.ContentInfo.load(sealed.timestamp_token)["content_type"].native == "signed_data"
    append(kyso, 2)
    report = audit_log.verify(kyso)
    assert (report.ok, report.entries, report.seals, report.seals_verified) == (True, 6, 1, 1)
    assert report.signatures_checked is True


def test_verify_names_an_altered_entry(kyso: Kyso) -> None:
    append(kyso, 5)
    sql(kyso, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3")
    report = audit_log.verify(kyso)
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_a_seal_whose_signature_was_replaced_is_named(kyso: Kyso) -> None:
    append(kyso, 3)
    sealed = audit_log.seal_head(kyso)
    forged = b"\x30\x06\x02\x01\x01\x02\x01\x01"  # a well-formed ECDSA signature by no key of ours
    with kyso.db.transaction() as session:
        session.execute(
            text("UPDATE audit_seals SET signature = :s WHERE id = :i"), {"s": forged, "i": sealed.id}
        )
    report = audit_log.verify(kyso)
    assert (report.ok, report.bad_seal) == (False, sealed.id)


def test_entries_after_and_limit(kyso: Kyso) -> None:
    append(kyso, 6)
    assert [e.seq for e in audit_log.entries(kyso, None, 4)] == [1, 2, 3, 4]
    assert [e.seq for e in audit_log.entries(kyso, 4, 100)] == [5, 6]
    assert {(e.actor, e.source) for e in audit_log.entries(kyso)} == {("alice", "203.0.113.9")}


def test_export_writes_one_json_line_per_entry(kyso: Kyso, tmp_path: Path) -> None:
    append(kyso, 3)
    out = io.StringIO()
    assert audit_log.export(kyso, out) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["seq"], line["target"]) for line in lines] == [(1, "5e1a0"), (2, "5e1a1"), (3, "5e1a2")]
