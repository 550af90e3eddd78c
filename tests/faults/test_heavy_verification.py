"""The heaviest real-world upload does not stall the service: while `kyso serve` checks EU DSS's
``lt-short.pdf`` (25 signatures; it once took 90-115 s and ~1.8 GB through ``POST /api/v1/verify`` and held
/healthz for 100 s), other requests are answered. The check runs in a bounded worker process
(``verification.pool``), never on the server's event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Instance, make_instance
from tests.support import cluster
from tests.verification.test_real_world_corpus import corpus_file


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.Served]:
    tmp: Path = tmp_path_factory.mktemp("heavy")
    instance: Instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    server = cluster.start(instance, env={"KYSO_VERIFY_RATE_PER_MINUTE": "100000"})
    yield server
    cluster.stop(server)
    instance.db.dispose()


def test_other_requests_are_answered_while_heavy_uploads_are_checked(served: cluster.Served) -> None:
    heavy = corpus_file("dss/lt-short.pdf")
    finished: list[tuple[float, int]] = []

    def upload() -> None:
        answer = httpx.post(
            served.url + "/api/v1/verify",
            files={"document": ("lt-short.pdf", heavy, "application/pdf")},
            timeout=120,
        )
        finished.append((time.monotonic(), answer.status_code))

    uploads = [threading.Thread(target=upload) for _ in range(4)]  # more than the workers: some wait
    for thread in uploads:
        thread.start()
    time.sleep(0.5)  # the uploads are in (each takes seconds to check)
    answered: list[float] = []
    while not finished and len(answered) < 5:
        assert httpx.get(served.url + "/healthz", timeout=30).status_code == 200
        answered.append(time.monotonic())
    for thread in uploads:
        thread.join(120)
    assert [status for _, status in finished] == [200] * 4
    first_done = min(at for at, _ in finished)
    assert len(answered) == 5 and answered[-1] < first_done, (
        f"only {len(answered)} health checks were answered before the first of four uploads was"
    )
