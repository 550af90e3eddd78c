"""The data directory's disk fills up under a SQLite instance: writes are refused with a clear 503
problem+json (never a 500), reads go on, the database is not corrupted, and writing resumes by itself
once space is freed.

The data directory is a small tmpfs mounted for the test (needs root, as the suite runs in CI)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from store.models import CheckIn
from tests.conftest import make_account, make_instance
from tests.support import cluster

DISK_MB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount_point = tmp_path / "var"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = directory / "filler.bin"
    block = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(block)
    with filler.open("ab", buffering=0) as handle, contextlib.suppress(OSError):
        while True:  # the last few KiB, so not even one page fits
            handle.write(b"\0" * 512)
    return filler


def test_a_full_disk_refuses_writes_cleanly_and_service_resumes_when_space_is_freed(
    small_disk: Path, tmp_path: Path
) -> None:
    database = small_disk / "kyso.db"
    instance = make_instance(tmp_path, f"sqlite:///{database}")
    assert instance.settings.data_dir == small_disk
    cluster.add_venue(instance)
    host, desk = make_account(instance, "official"), make_account(instance, "desk", venue=cluster.VENUE)
    payloads = iter(cluster.make_passes(instance, 300, host=host))
    instance.db.dispose()
    server = cluster.start(instance)
    admitted: dict[str, int] = {}
    try:
        bearer = cluster.token(server.url, desk)
        with cluster.client(server.url, bearer) as client:

            def check_in() -> object:
                answer = client.post(
                    "/api/v1/checkins", json=cluster.checkin_request(next(payloads), "gate-1")
                )
                if answer.status_code == 200:
                    decision = answer.json()
                    assert decision["decision"] == "admit", decision
                    admitted[decision["invitation_id"]] = decision["checkin_id"]
                else:
                    assert cluster.is_problem(answer, 503, 507), (answer.status_code, answer.text)
                return answer

            for _ in range(5):
                assert check_in().status_code == 200
            filler = fill(small_disk)
            # a write transaction that needs a new page now fails; earlier pages of the WAL may still fit
            refused = cluster.poll(lambda: (a := check_in()).status_code != 200 and a, 60,
                                   "writes kept succeeding on a full disk", interval=0)  # fmt: skip
            assert "disk" in refused.json()["detail"], refused.json()
            assert client.get("/api/v1/auth/me").status_code == 200, "reading needs no space"
            filler.unlink()
            cluster.poll(
                lambda: check_in().status_code == 200, 60, "writes did not resume after freeing space"
            )
            assert check_in().status_code == 200
    finally:
        cluster.stop(server)

    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with instance.db.reading() as session:
        stored = dict(session.execute(select(CheckIn.invitation_id, CheckIn.id)).all())
    assert stored == admitted, "the check-ins stored are exactly those the desk saw admitted"
    cluster.assert_audit_linear(instance)
    instance.db.dispose()
