"""Serials stay unique when several processes issue at once; the database constraint is the guarantee."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

import ca.issuance
from ca.issuance import IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.errors import Kind, ServiceError
from core.settings import Settings
from tests.conftest import Instance, make_instance, new_database_url

WORKERS = 4
PER_WORKER = 15


def _issue_many(settings_json: str, worker: int, queue: multiprocessing.Queue) -> None:
    runtime = CaRuntime.from_settings(Settings.model_validate(json.loads(settings_json)))
    serials = []
    try:
        for i in range(PER_WORKER):
            subject = SubjectFields(surname="Võ", given_name=f"Văn {worker}-{i}", cccd=f"0790{worker}{i:07d}")
            with runtime.db.transaction() as session:
                serials.append(runtime.ca.issue(session, IssueRequest("citizen", subject)).certificate.serial)
        queue.put(serials)
    except Exception as exc:  # the parent reports it
        queue.put(repr(exc))


def _settings_json(instance: Instance) -> str:
    """The instance's settings for a child process, master key included (pydantic masks secrets)."""
    data = instance.settings.model_dump(mode="json")
    data["master_key"] = instance.settings.master_key.get_secret_value()  # type: ignore[union-attr]
    return json.dumps(data)


@pytest.mark.postgres
def test_concurrent_issuance_on_postgresql_gives_unique_serials(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    instance = make_instance(tmp_path, new_database_url("postgresql", tmp_path, request))
    before = instance.count()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    settings_json = _settings_json(instance)
    processes = [context.Process(target=_issue_many, args=(settings_json, w, queue)) for w in range(WORKERS)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    assert not failures, failures
    serials = [s for batch in results for s in batch]
    assert len(serials) == WORKERS * PER_WORKER
    assert len(set(serials)) == len(serials)
    assert instance.count() == before + WORKERS * PER_WORKER


def test_a_colliding_serial_is_refused_by_the_database(
    shared_instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the random source forced to repeat, the unique constraint stops the second certificate."""
    monkeypatch.setattr(ca.issuance, "new_certificate_serial", lambda: 0x5E1A1)
    subject = SubjectFields(surname="Đỗ", given_name="Minh", cccd="031095000111")
    before = shared_instance.counts()
    with shared_instance.db.transaction() as session:
        first = shared_instance.ca.issue(session, IssueRequest("citizen", subject))
    assert first.certificate.serial == "05e1a1"
    with pytest.raises(ServiceError) as caught, shared_instance.db.transaction() as session:
        shared_instance.ca.issue(session, IssueRequest("citizen", subject))
    assert caught.value.kind is Kind.INTERNAL
    assert "unique certificate serial" in caught.value.message
    assert shared_instance.counts() == (before[0] + 1, before[1] + 1)
