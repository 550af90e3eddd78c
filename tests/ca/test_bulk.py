"""`kyso ca bulk-issue`: per-row results, bad files, and a run killed half-way resumed exactly once."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ca import bulk
from core.errors import ServiceError
from store.models import BulkRow, Certificate
from tests.conftest import VENV_BIN, Instance, kyso


def write_citizens(path: Path, rows: int, *, bad_rows: tuple[int, ...] = ()) -> list[str]:
    cccds = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cccd", "surname", "given_name", "province", "locality"])
        for i in range(1, rows + 1):
            cccd = f"079{i % 4}{i % 100:02d}{i:06d}" if i not in bad_rows else f"07{i:05d}"
            cccds.append(cccd)
            writer.writerow([cccd, "Nguyễn", f"Văn Số {i}", "Thành phố Hồ Chí Minh", "Phường Bến Thành"])
    return cccds


def citizen_certificates_by_cccd(instance: Instance) -> dict[str, int]:
    with instance.db.reading() as session:
        rows = session.execute(
            select(Certificate.cccd, func.count())
            .where(Certificate.profile == "citizen")
            .group_by(Certificate.cccd)
        ).all()
    return {cccd: count for cccd, count in rows}


def bulk_rows_done(instance: Instance) -> int:
    with instance.db.reading() as session:
        return session.scalar(select(func.count()).select_from(BulkRow)) or 0


def test_bulk_issue_writes_a_result_per_row(instance: Instance, tmp_path: Path) -> None:
    source = tmp_path / "ward.csv"
    cccds = write_citizens(source, 40, bad_rows=(7,))
    result = kyso(instance, "ca", "bulk-issue", source, "--workers", "2")
    assert result.returncode == 1  # one row failed
    assert "39 issued, 1 failed" in result.stdout
    with (tmp_path / "ward.results.csv").open(encoding="utf-8") as handle:
        results = list(csv.DictReader(handle))
    assert [r["cccd"] for r in results] == cccds
    assert [r["row"] for r in results if r["outcome"] == "failed"] == ["7"]
    assert "12 digits" in results[6]["message"]
    assert all(r["serial"] for r in results if r["outcome"] == "issued")
    issued = citizen_certificates_by_cccd(instance)
    assert set(issued) == {c for i, c in enumerate(cccds, 1) if i != 7} and set(issued.values()) == {1}

    again = kyso(instance, "ca", "bulk-issue", source, "--json")
    assert '"issued": 0' in again.stdout  # nothing left to do, nothing issued twice
    assert citizen_certificates_by_cccd(instance) == issued


def test_bulk_issue_killed_half_way_resumes_exactly_once(instance: Instance, tmp_path: Path) -> None:
    rows = 600
    source = tmp_path / "city.csv"
    cccds = write_citizens(source, rows)
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "ca", "bulk-issue", str(source), "--workers", "2"],
        env=instance.env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while bulk_rows_done(instance) < 100 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its lint workers, mid-batch
    process.wait()
    done_when_killed = bulk_rows_done(instance)
    assert 0 < done_when_killed < rows, "the run must be interrupted half-way for this test to mean anything"

    resumed = kyso(instance, "ca", "bulk-issue", source, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {done_when_killed} of {rows}" in resumed.stdout
    issued = citizen_certificates_by_cccd(instance)
    assert set(issued) == set(cccds)
    assert set(issued.values()) == {1}, "a row was issued twice"
    assert bulk_rows_done(instance) == rows


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"cccd,surname\n079203001234,A\n", "lacks the column(s) given_name"),
        (b"cccd,surname,given_name,shoe_size\n", "unknown column(s) shoe_size"),
        (b"cccd,surname,given_name\n", "no rows"),
        ("cccd,surname,given_name\n079203001234,Nguyễn,An\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_bad_csv_files_are_refused_before_anything_is_issued(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ServiceError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        bulk.read_csv(path)


def test_a_citizen_is_not_enrolled_twice(shared_instance: Instance, tmp_path: Path) -> None:
    """A corrected file (a new run) or a repeated row does not give anyone a second valid certificate."""
    first = tmp_path / "first.csv"
    write_citizens(first, 5)
    kyso(shared_instance, "ca", "bulk-issue", first, "--workers", "1")
    before = citizen_certificates_by_cccd(shared_instance)
    second = tmp_path / "second.csv"
    second.write_text(first.read_text(encoding="utf-8") + "079999001001,Trần,Mới\n", encoding="utf-8")
    result = kyso(shared_instance, "ca", "bulk-issue", second, "--workers", "1")
    assert "already holds a valid citizen certificate" in (tmp_path / "second.results.csv").read_text()
    after = citizen_certificates_by_cccd(shared_instance)
    assert set(after.values()) == {1} and len(after) == len(before) + 1
    assert result.returncode == 1
