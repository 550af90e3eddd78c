"""Bulk enrolment of citizens from a CSV file, resumable and exactly-once.

A run is identified by the SHA-256 of the file, so starting the same file again resumes it. Each row's
certificate and its ``bulk_rows`` record are written in the same transaction, and ``bulk_rows`` has a
unique (run, row) constraint: a row is issued at most once even if two runs of the file overlap, and a
run killed half-way redoes only the rows whose transaction never committed.

Linting, the costly step, is spread over worker processes; the parent prepares, signs and stores.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from ca.issuance import CertificateAuthority, IssueRequest, LintMany
from ca.lint import CertificateLinter, Finding
from ca.subjects import SubjectFields
from core.errors import ServiceError, conflict, malformed
from store import repositories
from store.db import Database
from store.models import BulkRow, BulkRun

REQUIRED_COLUMNS = ("cccd", "surname", "given_name")
OPTIONAL_COLUMNS = ("common_name", "province", "locality", "keygen", "csr")
MAX_FILE_BYTES = 512 * 1024 * 1024
BATCH_SIZE = 50
OnIssued = Callable[[Session, str], None]


@dataclass(frozen=True)
class RowOutcome:
    row_number: int
    outcome: str  # issued | failed | skipped (another run recorded it first)
    serial: str | None
    message: str | None


@dataclass(frozen=True)
class BulkFile:
    run_id: str
    name: str
    rows: list[tuple[int, dict[str, str]]]  # (1-based data row number, columns)


def read_csv(path: Path) -> BulkFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise malformed(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise malformed(f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise malformed(f"{path} is not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise malformed(
            f"{path.name} lacks the column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(REQUIRED_COLUMNS)} and may add {', '.join(OPTIONAL_COLUMNS)}"
        )
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise malformed(f"{path.name} has unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    rows = [
        (number, {k: (v or "").strip() for k, v in row.items() if k is not None})
        for number, row in enumerate(reader, start=1)
    ]
    if not rows:
        raise malformed(f"{path.name} has a header but no rows")
    return BulkFile(hashlib.sha256(data).hexdigest(), path.name, rows)


def start_run(session: Session, bulk: BulkFile, now: object) -> set[int]:
    """Register the run (or find it again) and return the row numbers already done."""
    run = repositories.bulk_run(session, bulk.run_id)
    if run is None:
        session.add(BulkRun(id=bulk.run_id, file_name=bulk.name, total_rows=len(bulk.rows), started_at=now))
        session.flush()
        return set()
    return {r.row_number for r in repositories.bulk_rows(session, bulk.run_id)}


def _holders(
    session: Session, ca: CertificateAuthority, rows: list[tuple[int, dict[str, str]]]
) -> dict[str, str]:
    """CCCDs of the batch that already hold a valid citizen certificate, with its serial."""
    now = ca.clock.now()
    found = {}
    for _number, columns in rows:
        cccd = columns.get("cccd", "")
        existing = repositories.valid_certificate_for_cccd(session, cccd, "citizen", now) if cccd else None
        if existing is not None:
            found[cccd] = existing.serial
    return found


def _request(columns: dict[str, str]) -> IssueRequest:
    subject = SubjectFields(
        cccd=columns.get("cccd") or None,
        surname=columns.get("surname") or None,
        given_name=columns.get("given_name") or None,
        common_name=columns.get("common_name") or None,
        province=columns.get("province") or None,
        locality=columns.get("locality") or None,
    )
    csr = columns.get("csr")
    return IssueRequest(
        profile="citizen",
        subject=subject,
        csr=csr.encode() if csr else None,
        keygen=None if csr else (columns.get("keygen") or "ec-p256"),
        delivery="custody",
    )


def issue_batch(
    db: Database,
    ca: CertificateAuthority,
    run_id: str,
    rows: list[tuple[int, dict[str, str]]],
    lint_many: LintMany,
    on_issued: OnIssued | None = None,
) -> list[RowOutcome]:
    """Issue a batch in one transaction, recording each row's outcome beside its certificate.

    ``on_issued(session, serial)`` runs in that transaction for every certificate (the audit log).
    """
    outcomes: list[RowOutcome] = []
    with db.transaction() as session:
        # A citizen who already holds a valid citizen certificate (from an earlier file, or an earlier
        # row of this one) is not enrolled twice; the operator renews or revokes instead.
        holders = _holders(session, ca, rows)
        to_issue: list[tuple[int, dict[str, str]]] = []
        refused: dict[int, ServiceError] = {}
        for number, columns in rows:
            cccd = columns.get("cccd", "")
            if cccd in holders:
                refused[number] = conflict(
                    f"CCCD {cccd} already holds a valid citizen certificate ({holders[cccd]})"
                )
            else:
                to_issue.append((number, columns))
                if cccd:
                    holders[cccd] = f"row {number} of this file"
        issued = iter(ca.issue_many(session, [_request(c) for _n, c in to_issue], lint_many))
        for number, _columns in rows:
            result = refused.get(number) or next(issued)
            if isinstance(result, ServiceError):
                row = BulkRow(run_id=run_id, row_number=number, outcome="failed", message=result.message)
            else:
                row = BulkRow(
                    run_id=run_id, row_number=number, outcome="issued", serial=result.certificate.serial
                )
            if row.serial and on_issued is not None:
                on_issued(session, row.serial)
            if not repositories.record_bulk_row(session, row):
                # Another run of the same file got there first: undo this whole batch, issue nothing twice.
                raise _AlreadyDone
            outcomes.append(RowOutcome(number, row.outcome, row.serial, row.message))
    return outcomes


class _AlreadyDone(Exception):
    pass


# -- linting in worker processes -------------------------------------------------------------------
# Issuance is dominated by pkilint (pure Python, ~10 ms a certificate). The database has one writer, so
# the parent prepares, signs and stores while a pool of processes lints each batch in parallel.

#
# The workers must neither outlive the parent nor share its database connections. A forked worker
# inherits every descriptor of the parent, its PostgreSQL socket among them (the pool forks on the first
# batch, inside its transaction): after a kill -9 of the parent the server then never sees the client go,
# the transaction stays "idle in transaction" holding the audit head, and every audited action waits for
# it while the orphaned workers live on. So the pool *spawns* its workers (a fresh interpreter that
# inherits no socket and no engine; libpq's sockets are close-on-exec), and each worker asks the kernel to
# kill it when its parent dies (PR_SET_PDEATHSIG), with a watchdog thread polling the parent's pid where
# that is not available.

_linter: CertificateLinter | None = None
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_WATCHDOG_SECONDS = 1.0


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    # PDEATHSIG fires when the thread that spawned the worker ends; run() spawns every worker from its
    # caller's thread and closes the pool before returning, so that thread lives as long as the pool.
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCHDOG_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="kyso-parent-watchdog", daemon=True).start()


def _init_lint_worker(tolerate_loopback_urls: bool, parent: int) -> None:
    global _linter
    _die_with_parent(parent)
    _linter = CertificateLinter(tolerate_loopback_urls=tolerate_loopback_urls)


def _ready() -> int:
    return os.getpid()


def _lint_one(der: bytes, lint_type: str) -> list[Finding]:
    assert _linter is not None
    return _linter.lint(der, lint_type)


def run(
    db: Database,
    ca: CertificateAuthority,
    bulk: BulkFile,
    done: set[int],
    *,
    workers: int,
    batch_size: int = BATCH_SIZE,
    on_issued: OnIssued | None = None,
) -> Iterator[RowOutcome]:
    """Issue every row not in ``done``; yields outcomes as batches finish (for a progress bar)."""
    pending = [row for row in bulk.rows if row[0] not in done]
    batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
    if workers <= 1:
        for batch in batches:
            yield from _issue_or_skip(db, ca, bulk.run_id, batch, _sequential(ca.linter), on_issued)
        return
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_lint_worker,
        initargs=(ca.linter.tolerates_loopback_urls, os.getpid()),
    ) as pool:
        # Start (and initialise) every worker now, outside any transaction: a spawned interpreter takes a
        # second or more to import the linter, which must not count against the first batch's
        # transaction (idle_in_transaction_session_timeout).
        for started in [pool.submit(_ready) for _ in range(workers)]:
            started.result()

        def lint_many(ders: list[bytes], types: list[str]) -> list[list[Finding]]:
            chunk = max(1, len(ders) // (workers * 2))
            return list(pool.map(_lint_one, ders, types, chunksize=chunk))

        for batch in batches:
            yield from _issue_or_skip(db, ca, bulk.run_id, batch, lint_many, on_issued)


def _sequential(linter: CertificateLinter) -> LintMany:
    return lambda ders, types: [linter.lint(d, t) for d, t in zip(ders, types, strict=True)]


def _issue_or_skip(
    db: Database,
    ca: CertificateAuthority,
    run_id: str,
    batch: list[tuple[int, dict[str, str]]],
    lint: LintMany,
    on_issued: OnIssued | None,
) -> list[RowOutcome]:
    try:
        return issue_batch(db, ca, run_id, batch, lint, on_issued)
    except _AlreadyDone:
        return [RowOutcome(number, "skipped", None, "already done by another run") for number, _ in batch]


def finish_run(session: Session, run_id: str, now: object) -> dict[str, int]:
    run_row = repositories.bulk_run(session, run_id)
    rows = repositories.bulk_rows(session, run_id)
    counts = {"issued": 0, "failed": 0}
    for row in rows:
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    if run_row is not None and len(rows) == run_row.total_rows and run_row.finished_at is None:
        run_row.finished_at = now  # type: ignore[assignment]
    counts["total"] = run_row.total_rows if run_row else 0
    return counts


def write_results(session: Session, bulk: BulkFile, path: Path) -> None:
    """One line per input row: row, cccd, outcome, serial, message."""
    recorded = {r.row_number: r for r in repositories.bulk_rows(session, bulk.run_id)}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "cccd", "outcome", "serial", "message"])
        for number, columns in bulk.rows:
            row = recorded.get(number)
            writer.writerow(
                [
                    number,
                    columns.get("cccd", ""),
                    row.outcome if row else "pending",
                    (row.serial or "") if row else "",
                    (row.message or "") if row else "",
                ]
            )
