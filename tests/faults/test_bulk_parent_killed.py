"""kill -9 of `kyso ca bulk-issue` while it holds the audit head: the lock goes with it, and so do its
lint workers (issue 16, item 3).

Before the fix the workers were forked mid-transaction, so they held the parent's PostgreSQL socket:
the server never saw the parent go, its transaction stayed "idle in transaction" on the audit head and
every audited action (logins among them) waited for ever, while the orphaned workers lived on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from identity import sessions
from keystore.secretbox import SecretBox
from tests.ca.test_bulk import bulk_rows_done, write_citizens
from tests.conftest import VENV_BIN, make_account, make_instance, new_database_url
from tests.support.postgres import libpq_url

pytestmark = pytest.mark.postgres

HOLDERS_OF_THE_HEAD = """
    SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
    WHERE c.relname = 'audit_head' AND l.granted AND l.pid <> pg_backend_pid()
"""


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def stop_while_holding_the_head(process: subprocess.Popen[bytes], db_url: str, instance: object) -> None:
    """Freeze the parent (SIGSTOP) at a moment its transaction holds the audit head lock."""
    deadline = time.monotonic() + 180
    with psycopg.connect(libpq_url(db_url), autocommit=True) as watcher:
        while time.monotonic() < deadline and process.poll() is None:
            if bulk_rows_done(instance) > 0:  # type: ignore[arg-type]
                os.kill(process.pid, signal.SIGSTOP)
                row = watcher.execute(HOLDERS_OF_THE_HEAD).fetchone()
                if row is not None and row[0] > 0:
                    return
                os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.005)
    pytest.fail("bulk-issue finished or stalled before it was caught holding the audit head")


def test_kill_9_of_bulk_issue_frees_the_audit_head_and_its_workers(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db_url = new_database_url("postgresql", tmp_path, request)
    instance = make_instance(tmp_path, db_url)
    official = make_account(instance, "official")
    source = tmp_path / "city.csv"
    write_citizens(source, 2000)
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "ca", "bulk-issue", str(source), "--workers", "2"],
        env=instance.env(),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the test can clean up whatever survives
    )
    outcome: list[object] = []
    try:
        stop_while_holding_the_head(process, db_url, instance)
        workers = descendants(process.pid)
        assert workers, "bulk-issue --workers 2 must have started lint workers"
        os.kill(process.pid, signal.SIGKILL)  # the parent only, as an OOM kill or `kill -9 <pid>` does
        process.wait()
        box = SecretBox(instance.settings.master_key_bytes())

        def log_in() -> None:
            with instance.db.transaction() as session:
                outcome.append(
                    sessions.login(
                        session,
                        instance.ca.clock,
                        box,
                        username=official.username,
                        password=official.password,
                        code=official.code(),
                        source="127.0.0.1",
                    )
                )

        started = time.monotonic()
        attempt = threading.Thread(target=log_in, daemon=True)
        attempt.start()
        attempt.join(timeout=8)
        assert not attempt.is_alive(), "a login still waits for the killed run's lock after 8 s"
        assert outcome and outcome[0].token, f"the login failed: {outcome}"  # type: ignore[attr-defined]
        assert time.monotonic() - started < 8

        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = sorted(pid for pid in workers if alive(pid))
        assert not survivors, f"processes of the killed run still live: {survivors}"
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        instance.db.dispose()
