"""The audit hash chain: tampering with stored rows by raw SQL is named by `kyso audit verify`, a
forgery that recomputes every hash is caught by the signed seal, and concurrent appends stay linear.

Raw SQL stands in for a database administrator; each tampering runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import itertools
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, text
from typer.testing import CliRunner

from ca.tsa import TimestampAuthority
from cli.main import app
from core.clock import FrozenClock, SystemClock
from core.errors import Kind, ServiceError
from identity import audit
from store.db import Database
from store.migrate import upgrade
from store.models import AuditEntry, AuditHead
from tests.conftest import DATABASES, Instance, kyso, make_instance, new_database_url
from tests.identity import append_in_child

START = dt.datetime(2026, 11, 23, 1, 50, 0, 123456, tzinfo=dt.UTC)
# A morning at the ward office, in the order the issue lists the security-relevant events.
EVENTS: list[dict[str, object]] = [
    {"actor": "admin", "action": "auth.login", "source": "127.0.0.1"},
    {"actor": "lan.tt", "action": "auth.login", "outcome": "failure", "source": "10.0.0.7"},
    {"actor": "lan.tt", "action": "auth.login", "source": "10.0.0.7"},
    {"actor": "lan.tt", "action": "auth.totp_enrol", "target": "lan.tt"},
    {"actor": "admin", "action": "account.role_change", "target": "lan.tt", "details": {"role": "official"}},
    {"actor": "operator", "action": "certificate.issue", "target": "5e1a1", "source": "cli"},
    {"actor": "Nguyễn Thị Lan", "action": "document.sign", "target": "123/QĐ-UBND"},
    {"actor": "operator", "action": "certificate.suspend", "target": "5e1a1", "source": "cli"},
    {
        "actor": "operator",
        "action": "certificate.revoke",
        "target": "5e1a1",
        "details": {"reason": "superseded"},
    },
    {"actor": "lan.tt", "action": "invitation.create", "target": "inv-1", "details": {"venue": "UBND-BT"}},
    {"actor": "lan.tt", "action": "invitation.cancel", "target": "inv-1"},
    {"actor": "desk-1", "action": "checkin.admit", "outcome": "admit", "target": "inv-2"},
    {"actor": "desk-2", "action": "checkin.deny", "outcome": "deny", "details": {"why": "already used"}},
]
ENTRIES = 20


# --- helpers ------------------------------------------------------------------------------------------
def append_events(db: Database, count: int = ENTRIES, *, start: dt.datetime = START) -> FrozenClock:
    """``count`` entries, each in its own transaction, one second apart."""
    clock = FrozenClock(start)
    for i in range(count):
        event = EVENTS[i % len(EVENTS)]
        with db.transaction() as session:
            audit.append(session, clock=clock, **event)  # type: ignore[arg-type]
        clock.advance(seconds=1)
    return clock


def raw_sql(db: Database, *statements: str, **params: object) -> None:
    """What a database administrator could do: plain SQL, committed."""
    with db.transaction() as session:
        for statement in statements:
            session.execute(text(statement), params)


def wipe(db: Database) -> None:
    raw_sql(db, "DELETE FROM audit_seals", "DELETE FROM audit_entries", "DELETE FROM audit_head")


def run_cli(instance: Instance, *args: str) -> tuple[int, str]:
    """`kyso …` in process (a subprocess costs seconds); the real executable is used in a few tests."""
    result = CliRunner().invoke(app, list(args), env=instance.env(), catch_exceptions=False)
    return result.exit_code, result.stdout


def verify_json(instance: Instance) -> tuple[int, dict[str, object]]:
    code, output = run_cli(instance, "audit", "verify", "--json")
    return code, json.loads(output)


def forge_from(db: Database, seq: int, actor: str) -> None:
    """The perfect forgery: rewrite entry ``seq`` and recompute every later hash and the head."""
    with db.reading() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq)).all()
        previous = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq - 1))
    previous = previous or audit.GENESIS
    updates = []
    for row in rows:
        fields = {
            "seq": row.seq,
            "previous_hash": previous,
            "occurred_at": row.occurred_at,
            "actor": actor if row.seq == seq else row.actor,
            "action": row.action,
            "target": row.target,
            "outcome": row.outcome,
            "source": row.source,
            "details": json.loads(row.details),
        }
        new_hash = audit.compute_entry_hash(**fields)  # type: ignore[arg-type]
        updates.append((row.seq, previous, new_hash, fields["actor"]))
        previous = new_hash
    with db.transaction() as session:
        # previous_hash is unique: move the rewritten rows out of the way first.
        session.execute(
            text("UPDATE audit_entries SET previous_hash = 'x' || CAST(seq AS VARCHAR) WHERE seq >= :s"),
            {"s": seq},
        )
        for row_seq, previous_hash, entry_hash, actor_name in updates:
            session.execute(
                text(
                    "UPDATE audit_entries SET previous_hash = :p, entry_hash = :h, actor = :a WHERE seq = :s"
                ),
                {"p": previous_hash, "h": entry_hash, "a": actor_name, "s": row_seq},
            )
        session.execute(text("UPDATE audit_head SET entry_hash = :h WHERE id = 1"), {"h": previous})


@pytest.fixture(scope="module", params=DATABASES)
def audited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One instance (CA hierarchy included: seals are signed by the TSA key) per database."""
    tmp = tmp_path_factory.mktemp("audit")
    inst = make_instance(tmp, new_database_url(request.param, tmp, request))
    yield inst
    inst.db.dispose()


@pytest.fixture
def chain(audited: Instance) -> Instance:
    """The instance with a fresh chain of 20 entries."""
    wipe(audited.db)
    append_events(audited.db)
    return audited


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A bare migrated SQLite database, for the checks that need no CA and no second database."""
    database = Database(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(database)
    yield database
    database.dispose()


# --- tampering is named by `kyso audit verify`, on SQLite and PostgreSQL ------------------------------
def test_an_intact_chain_verifies_and_an_edited_entry_is_named(chain: Instance) -> None:
    code, output = run_cli(chain, "audit", "verify")
    assert code == 0, output
    assert "intact: 20 entries" in output

    raw_sql(chain.db, "UPDATE audit_entries SET actor='mallory' WHERE seq=7")
    result = kyso(chain, "audit", "verify")  # the installed executable, as an operator runs it
    assert result.returncode == 1
    assert "entry 7 was altered" in result.stdout


def _swap_7_and_8(db: Database) -> None:
    # Through a spare number: PostgreSQL checks the primary key row by row.
    raw_sql(
        db,
        "UPDATE audit_entries SET seq = -7 WHERE seq = 7",
        "UPDATE audit_entries SET seq = 7 WHERE seq = 8",
        "UPDATE audit_entries SET seq = 8 WHERE seq = -7",
    )


def rehash_one(db: Database, seq: int) -> None:
    """Rewrite one entry and recompute its own hash only (not the later ones)."""
    with db.reading() as session:
        row = session.get(AuditEntry, seq)
        assert row is not None
        new_hash = audit.compute_entry_hash(
            seq=row.seq,
            previous_hash=row.previous_hash,
            occurred_at=row.occurred_at,
            actor="mallory",
            action=row.action,
            target=row.target,
            outcome=row.outcome,
            source=row.source,
            details=json.loads(row.details),
        )
    raw_sql(db, "UPDATE audit_entries SET actor='mallory', entry_hash=:h WHERE seq=:s", h=new_hash, s=seq)


TAMPERING: dict[str, tuple[Callable[[Database], None], int, str]] = {
    "edit-actor": (
        lambda db: raw_sql(db, "UPDATE audit_entries SET actor='mallory' WHERE seq=7"),
        7,
        "entry 7 was altered",
    ),
    "edit-details": (
        lambda db: raw_sql(db, """UPDATE audit_entries SET details='{"reason":"unspecified"}' WHERE seq=9"""),
        9,
        "entry 9 was altered",
    ),
    "edit-time": (
        lambda db: raw_sql(
            db,
            "UPDATE audit_entries SET occurred_at=:t WHERE seq=3",
            t=START + dt.timedelta(hours=1),
        ),
        3,
        "entry 3 was altered",
    ),
    "delete": (
        lambda db: raw_sql(db, "DELETE FROM audit_entries WHERE seq=7"),
        7,
        "entry 7 is missing (deleted)",
    ),
    "delete-first": (
        lambda db: raw_sql(db, "DELETE FROM audit_entries WHERE seq=1"),
        1,
        "entry 1 is missing (deleted)",
    ),
    "swap": (_swap_7_and_8, 7, "entries out of order at 7"),
    "truncate-tail": (
        lambda db: raw_sql(db, "DELETE FROM audit_entries WHERE seq > 18"),
        19,
        "the chain ends at 18 but the head names 20 (entries deleted at the end)",
    ),
    "rewrite-one-hash": (
        lambda db: rehash_one(db, 12),
        12,
        "entry 12 was altered (entry 13 no longer links to it)",
    ),
    "head-rewound": (
        lambda db: raw_sql(
            db,
            "DELETE FROM audit_entries WHERE seq > 18",
            "UPDATE audit_head SET seq = 18 WHERE id = 1",
        ),
        18,
        "the head does not match entry 18",
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_tampering_is_named(chain: Instance, tampering: str) -> None:
    tamper, first_bad, problem = TAMPERING[tampering]
    tamper(chain.db)
    code, report = verify_json(chain)
    assert code == 1
    assert report["ok"] is False
    assert report["first_bad_seq"] == first_bad
    assert problem in str(report["problem"])


def test_a_perfect_forgery_after_a_seal_is_caught_by_the_seal(chain: Instance) -> None:
    code, output = run_cli(chain, "audit", "seal", "--json")
    assert code == 0, output
    seal_json = json.loads(output)
    assert seal_json["seq"] == ENTRIES
    token = cms.ContentInfo.load(base64.b64decode(seal_json["timestamp_token"]))
    assert token["content_type"].native == "signed_data"
    code, report = verify_json(chain)
    assert (code, report["seals"], report["seals_verified"]) == (0, 1, 1)

    forge_from(chain.db, 7, "mallory")
    with chain.db.reading() as session:  # every link and hash is consistent again...
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert rows[6].actor == "mallory"
        assert all(r.previous_hash == p.entry_hash for p, r in itertools.pairwise(rows))
    code, output = run_cli(chain, "audit", "verify")  # ...but the signed seal names the old head
    assert code == 1
    assert "history was rewritten between entries 1 and 20" in output
    assert f"seal {seal_json['id']}" in output

    # Bringing the seal in line with the forgery needs the TSA key: the signature no longer verifies.
    raw_sql(chain.db, "UPDATE audit_seals SET entry_hash = (SELECT entry_hash FROM audit_head WHERE id = 1)")
    code, report = verify_json(chain)
    assert code == 1
    assert report["bad_seal"] == seal_json["id"]
    assert "signature" in str(report["problem"])


def test_seals_cover_what_they_sealed_and_later_entries_stay_checkable(chain: Instance) -> None:
    code, output = run_cli(chain, "audit", "seal")
    assert code == 0, output
    assert "sealed entry 20" in output
    append_events(chain.db, 5, start=START + dt.timedelta(hours=1))
    code, report = verify_json(chain)
    assert code == 0, report
    assert report["entries"] == 25
    assert any("21..25 are not sealed" in n for n in report["notes"])  # type: ignore[union-attr]

    # Deleting sealed entries at the end and rewinding the head to match is seen through the seal.
    raw_sql(
        chain.db,
        "DELETE FROM audit_entries WHERE seq > 15",
        "UPDATE audit_head SET seq = 15, entry_hash = (SELECT entry_hash FROM audit_entries WHERE seq = 15)",
    )
    code, report = verify_json(chain)
    assert code == 1
    assert "names entry 20 but the chain ends at 15" in str(report["problem"])


def test_export_writes_one_json_line_per_entry(chain: Instance, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    code, output = run_cli(chain, "audit", "export", "-o", str(target))
    assert code == 0, output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == ENTRIES
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, ENTRIES + 1))
    assert entries[0]["previous_hash"] == audit.GENESIS
    assert all(b["previous_hash"] == a["entry_hash"] for a, b in itertools.pairwise(entries))
    assert entries[6]["actor"] == "Nguyễn Thị Lan"  # diacritics as written, not \u escapes
    assert "Nguyễn Thị Lan" in lines[6]
    for entry in entries:  # anyone holding the export can recompute the hashes
        fields = {k: entry[k] for k in entry if k != "entry_hash"}
        fields["occurred_at"] = dt.datetime.fromisoformat(entry["occurred_at"])
        assert audit.compute_entry_hash(**fields) == entry["entry_hash"]

    code, output = run_cli(chain, "audit", "export")
    assert code == 0
    assert output.splitlines() == lines


# --- the append contract --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "details",
    [
        {"password": "x"},
        {"Password": "x"},
        {"new_password_hash": "x"},
        {"login": {"TOTP": "123456"}},
        {"recovery_codes": ["a"]},
        {"attempts": [{"api_key": "k"}]},
        {"client_secret": "s"},
        {"session_token": "t"},
    ],
)
def test_details_that_look_like_secrets_are_refused(db: Database, details: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must not hold secrets"), db.transaction() as session:
        audit.append(session, clock=SystemClock(), actor="lan.tt", action="auth.login", details=details)
    with db.reading() as session:
        assert audit.current_head(session) == (0, audit.GENESIS)


def test_append_records_what_it_hashes(db: Database) -> None:
    clock = FrozenClock(START)
    long_name = "Trần " * 40  # longer than the column
    with db.transaction() as session:
        first = audit.append(
            session,
            clock=clock,
            actor=long_name + "\x00",
            action="auth.login",
            outcome="failure",
            source="2001:db8::1",
            details={"tries": 3, "tuple": (1, 2), "ghi chú": "sai mật mã"},
        )
        second = audit.append(session, clock=clock, actor="admin", action="auth.login")
    assert (first.seq, second.seq) == (1, 2)
    assert first.previous_hash == audit.GENESIS and second.previous_hash == first.entry_hash
    assert len(first.actor) == 100 and first.actor.endswith("…")
    assert first.details["tuple"] == [1, 2]
    assert first.occurred_at == START  # microseconds survive the round trip
    with db.reading() as session:
        stored = session.get(AuditEntry, 1)
        assert stored is not None and stored.occurred_at == START
        report = audit.verify(session)
        assert (report.ok, report.entries, report.head_seq) == (True, 2, 2)
        assert [r.entry_hash for r in audit.entries(session)] == [first.entry_hash, second.entry_hash]

    for action in ("Auth Login", "", "x" * 61):
        with pytest.raises(ValueError), db.transaction() as session:
            audit.append(session, clock=clock, actor="admin", action=action)
    with pytest.raises(ValueError, match="plain JSON"), db.transaction() as session:
        audit.append(session, clock=clock, actor="admin", action="auth.login", details={"at": clock.now()})


def test_an_entry_rolls_back_with_its_action(db: Database) -> None:
    append_events(db, 3)
    with pytest.raises(RuntimeError), db.transaction() as session:
        audit.append(session, clock=SystemClock(), actor="admin", action="certificate.issue")
        raise RuntimeError("the issuance failed")
    with db.reading() as session:
        assert audit.current_head(session)[0] == 3
        assert audit.verify(session).entries == 3


def test_verify_streams_in_batches(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "BATCH_SIZE", 3)
    append_events(db, 10)
    with db.reading() as session:
        assert audit.verify(session).ok
        buffer = io.StringIO()
        assert audit.export(session, buffer) == 10
    raw_sql(db, "DELETE FROM audit_entries WHERE seq = 7")  # the first row of the third batch
    with db.reading() as session:
        report = audit.verify(session)
    assert (report.ok, report.first_bad_seq, report.entries) == (False, 7, 9)


def test_empty_and_headless_chains(db: Database) -> None:
    with db.reading() as session:
        report = audit.verify(session)
    assert (report.ok, report.entries, report.head_seq) == (True, 0, 0)
    with pytest.raises(ServiceError) as caught, db.transaction() as session:
        audit.seal(session, clock=SystemClock(), sign=lambda b: b"", signer_serial="01")
    assert caught.value.kind is Kind.CONFLICT

    append_events(db, 3)
    raw_sql(db, "DELETE FROM audit_head")
    with db.reading() as session:
        report = audit.verify(session)
    assert not report.ok and "head row is missing" in str(report.problem)
    with pytest.raises(ServiceError) as caught, db.transaction() as session:  # appends refuse to fork
        audit.append(session, clock=SystemClock(), actor="admin", action="auth.login")
    assert caught.value.kind is Kind.INTERNAL

    raw_sql(db, "INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 2, 'x')")
    with db.reading() as session:
        report = audit.verify(session)
    assert "entries 3..3 follow the head" in str(report.problem)


def _ec_signer() -> tuple[Callable[[bytes], bytes], audit.SealVerifier]:
    key = ec.generate_private_key(ec.SECP256R1())

    def check(message: bytes, signature: bytes) -> bool:
        key.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises when invalid
        return True

    return (lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))), check


def test_seal_signatures_and_timestamps_are_checked(db: Database) -> None:
    """identity/ alone, with a local key: a seal signed by another key or a timestamp over other data."""
    sign, check = _ec_signer()
    other_sign, _ = _ec_signer()
    append_events(db, 4)
    with db.transaction() as session:
        record = audit.seal(session, clock=SystemClock(), sign=sign, signer_serial="0a", timestamp=None)
    assert record.signature and record.timestamp_token is None
    with db.reading() as session:
        assert audit.verify(session, check).seals_verified == 1
        unchecked = audit.verify(session)
    assert unchecked.ok and not unchecked.signatures_checked
    assert any("not checked" in note for note in unchecked.notes)

    with db.transaction() as session:  # a seal made with a key that is not the service's
        audit.seal(session, clock=SystemClock(), sign=other_sign, signer_serial="0a")
    with db.reading() as session:
        report = audit.verify(session, check)
        assert [s.id for s in audit.list_seals(session)] == [record.id, record.id + 1]
    assert (report.ok, report.bad_seal) == (False, record.id + 1)

    raw_sql(db, "DELETE FROM audit_seals WHERE id = :i", i=record.id + 1)
    raw_sql(db, "UPDATE audit_seals SET timestamp_token = :t", t=b"\x30\x03\x02\x01\x01")
    with db.reading() as session:
        report = audit.verify(session, check)
    assert not report.ok and "timestamp" in str(report.problem)


def test_a_timestamp_over_other_data_is_refused(chain: Instance) -> None:
    inst = chain
    sign, check = _ec_signer()
    tsa = TimestampAuthority(inst.ca)
    with inst.db.transaction() as session:

        def stamp_other(_signature: bytes) -> bytes:
            digest = hashlib.sha256(b"something else").digest()
            return tsa.timestamp(digest, "sha256", None, False, session).dump()

        audit.seal(session, clock=SystemClock(), sign=sign, signer_serial="0a", timestamp=stamp_other)
    with inst.db.reading() as session:
        report = audit.verify(session, check)
    assert not report.ok
    assert "does not cover its signature" in str(report.problem)


# --- concurrency on PostgreSQL --------------------------------------------------------------------------
WORKERS = 4
PER_WORKER = 25


@pytest.mark.postgres
def test_concurrent_appends_keep_the_chain_linear_on_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = new_database_url("postgresql", tmp_path, request)
    database = Database(url)
    upgrade(database)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(WORKERS)
    processes = [
        context.Process(target=append_in_child, args=(url, w, PER_WORKER, barrier, queue))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    assert not failures, failures
    assert sorted(s for batch in results for s in batch) == list(range(1, WORKERS * PER_WORKER + 1))
    with database.reading() as session:
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.previous_hash).order_by(AuditEntry.seq)
        ).all()
        report = audit.verify(session)
    database.dispose()
    assert [r.seq for r in rows] == list(range(1, WORKERS * PER_WORKER + 1))
    assert len({r.previous_hash for r in rows}) == len(rows)  # no two entries share a predecessor
    assert report.ok, report.problem
    assert report.entries == WORKERS * PER_WORKER


@pytest.mark.postgres
def test_two_first_appends_race_for_the_head_on_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The second waits on the head's primary key, fails inside its savepoint, then follows the first."""
    database = Database(new_database_url("postgresql", tmp_path, request))
    upgrade(database)
    inserted, results = threading.Event(), {}

    def first() -> None:
        with database.transaction() as session:
            results["first"] = audit.append(session, clock=SystemClock(), actor="a", action="test.race").seq
            inserted.set()
            time.sleep(0.5)  # hold the new head, uncommitted, while the second arrives

    def second() -> None:
        inserted.wait(10)
        with database.transaction() as session:
            results["second"] = audit.append(session, clock=SystemClock(), actor="b", action="test.race").seq

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with database.reading() as session:
        report = audit.verify(session)
        head = session.get(AuditHead, 1)
    database.dispose()
    assert results == {"first": 1, "second": 2}
    assert report.ok and head is not None and head.seq == 2
