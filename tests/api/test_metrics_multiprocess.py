"""`kyso serve --workers 2`: whichever worker answers /metrics, it reports the requests of both (prometheus
multiprocess mode in a directory of this server's own under <data dir>/prometheus), OCSP fast-path answers
included; files another server left there are not added in."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import VENV_BIN, Instance, free_port, make_instance

REQUESTS = 30


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> Iterator[tuple[str, Instance]]:
    tmp = tmp_path_factory.mktemp("workers")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    (instance.settings.data_dir / "prometheus" / "elsewhere-1").mkdir(parents=True)
    port = free_port()
    log = tmp / "serve.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", "2"],
        env=instance.env(), cwd=tmp, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(log.read_text())
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        yield url, instance
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        instance.db.dispose()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_scrape_sums_both_workers(two_workers) -> None:
    url, instance = two_workers
    [directory] = [
        d for d in (instance.settings.data_dir / "prometheus").iterdir() if d.name != "elsewhere-1"
    ]
    sent = 0
    # a new connection each: the kernel spreads them over both workers, though not always in one round
    for _ in range(10):
        for _ in range(REQUESTS):
            with urllib.request.urlopen(url + "/api/v1/authorities", timeout=10) as response:
                assert response.status == 200
            sent += 1
        if len(list(directory.glob("counter_*.db"))) >= 2:
            break
    assert len(list(directory.glob("counter_*.db"))) >= 2  # both workers keep values there
    key = (
        "kyso_http_requests_total",
        (("method", "GET"), ("route", "/api/v1/authorities"), ("status", "200")),
    )
    for _ in range(6):  # each scrape may be answered by either worker; every one sees all requests
        assert scrape(url)[key] == sent


def test_fast_path_ocsp_answers_reach_every_scrape(two_workers) -> None:
    url, _ = two_workers
    body = b"not an OCSP request"
    for _ in range(10):
        request = urllib.request.Request(
            url + "/ocsp/citizen", data=body, headers={"Content-Type": "application/ocsp-request"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and response.headers["content-type"] == "application/ocsp-response"
    key = ("kyso_ocsp_responses_total", (("cache", "hit"), ("status", "malformed")))
    seen = 0.0
    for _ in range(60):  # each worker folds its plain counts into the shared files every few seconds
        seen = scrape(url).get(key, 0.0)
        if seen == 10:
            break
        time.sleep(0.5)
    assert seen == 10
