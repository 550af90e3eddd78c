"""The OCSP hot path: answers from memory, invalidated by status changes made in other processes, RFC 5019
caching headers on GET, malformed input answered with malformedRequest, nonces, several workers.

Protocol results are checked with the real `openssl ocsp` client against a running `kyso serve`; the raw
socket tests speak HTTP by hand because what they check is how the connection handler copes with odd
HTTP (split, pipelined, oversized, chunked), which no well-behaved client sends.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from api.fastpath.ocsp import HTTP_MAX_AGE, render
from ca import lifecycle
from ca.issuance import IssueRequest
from ca.ocsp import OcspResponder
from ca.ocsp_cache import CachingOcspResponder
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.clock import FrozenClock
from store.status_versions import StatusVersions
from tests.conftest import VENV_BIN, Instance, free_port, kyso, run_tool
from tests.support import raw_http
from tests.support.raw_http import Answer, read_answer

MALFORMED = ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@dataclass
class Served:
    instance: Instance
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    issuing: Path  # the citizen CA certificate (PEM)
    chain: Path  # citizen CA and root (PEM), for -CAfile

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve(instance: Instance, workers: int) -> Served:
    port = free_port()
    log = instance.settings.data_dir.parent / f"serve-{port}.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env=instance.env(), stdout=log.open("wb"), stderr=subprocess.STDOUT,
        cwd=instance.settings.data_dir.parent, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"kyso serve did not start:\n{log.read_text()}")
    tmp = instance.settings.data_dir.parent
    with instance.db.reading() as session:
        pem = instance.ca.chain_pem(session, "citizen")
    chain, issuing = tmp / "chain.pem", tmp / "issuing.pem"
    chain.write_text(pem)
    issuing.write_bytes(
        x509.load_pem_x509_certificates(pem.encode())[0].public_bytes(serialization.Encoding.PEM)
    )
    return Served(instance, process, port, log, issuing, chain)


def stop(served: Served) -> None:
    import os
    import signal

    os.killpg(served.process.pid, signal.SIGTERM)
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(served.process.pid, signal.SIGKILL)
        served.process.wait()


@pytest.fixture
def one_worker(instance: Instance) -> Iterator[Served]:
    served = serve(instance, 1)
    yield served
    stop(served)


@pytest.fixture
def two_workers(instance: Instance) -> Iterator[Served]:
    served = serve(instance, 2)
    yield served
    stop(served)


def issue(instance: Instance, name: str, cccd: str) -> tuple[str, Path, x509.Certificate]:
    with instance.db.transaction() as session:
        info = instance.ca.issue(
            session, IssueRequest("citizen", SubjectFields(surname="Trần", given_name=name, cccd=cccd))
        ).certificate
    path = instance.settings.data_dir.parent / f"{info.serial}.pem"
    path.write_text(info.certificate_pem)
    return info.serial, path, x509.load_pem_x509_certificate(info.certificate_pem.encode())


def openssl_ocsp(served: Served, leaf: Path, *extra: str | Path) -> str:
    result = run_tool(
        "openssl", "ocsp", "-issuer", served.issuing, "-cert", leaf, "-url", f"{served.url}/ocsp/citizen",
        "-CAfile", served.chain, *extra, check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def request_der(served: Served, leaf: Path, *, nonce: bool = False) -> bytes:
    out = served.instance.settings.data_dir.parent / "request.der"
    run_tool("openssl", "ocsp", "-issuer", served.issuing, "-cert", leaf, "-reqout", out,
             *([] if nonce else ["-no_nonce"]))  # fmt: skip
    return out.read_bytes()


# -- raw HTTP ------------------------------------------------------------------------------------------


def exchange(served: Served, raw: bytes, answers: int = 1, *, pieces: int = 1) -> list[Answer]:
    return raw_http.exchange(served.port, raw, answers, pieces=pieces)


def ocsp_of(answer: Answer) -> ocsp.OCSPResponse:
    return ocsp.load_der_ocsp_response(answer.body)


def post(body: bytes, *, path: str = "/ocsp/citizen", version: str = "1.1", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def get(der: bytes, *, path: str = "/ocsp/citizen") -> bytes:
    encoded = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    return f"GET {path}/{encoded} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


# -- caching headers --------------------------------------------------------------------------------


def test_get_answers_carry_rfc5019_caching_headers_and_post_answers_do_not(
    one_worker: Served, tmp_path: Path
) -> None:
    served = one_worker
    serial, leaf, _ = issue(served.instance, "An", "079203100001")
    der = request_der(served, leaf)
    first, second = exchange(served, get(der) + get(der), answers=2)  # the second from memory
    assert first.status == second.status == 200
    assert first.headers["content-type"] == "application/ocsp-response"
    response = ocsp_of(first)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert email.utils.parsedate_to_datetime(first.headers["last-modified"]) == response.produced_at_utc
    assert email.utils.parsedate_to_datetime(first.headers["expires"]) == response.next_update_utc
    directives = [d.strip() for d in first.headers["cache-control"].split(",")]
    assert {"public", "no-transform", "must-revalidate"} <= set(directives)
    max_age = int(next(d for d in directives if d.startswith("max-age=")).removeprefix("max-age="))
    assert 0 < max_age <= HTTP_MAX_AGE
    assert (response.next_update_utc - dt.datetime.now(dt.UTC)).total_seconds() > max_age
    assert re.fullmatch(r'"[0-9a-f]{32}"', first.headers["etag"])
    assert second.headers["etag"] == first.headers["etag"] and second.body == first.body

    (tmp_path / "get.der").write_bytes(first.body)
    checked = run_tool("openssl", "ocsp", "-respin", tmp_path / "get.der", "-issuer", served.issuing,
                       "-cert", leaf, "-CAfile", served.chain, check=False)  # fmt: skip
    assert "Response verify OK" in checked.stdout + checked.stderr and f"{leaf}: good" in checked.stdout

    (posted,) = exchange(served, post(der))
    assert posted.headers["cache-control"] == "no-cache" and "etag" not in posted.headers
    assert posted.body == first.body  # the same pre-produced response

    kyso(served.instance, "ca", "revoke", serial, "--reason", "superseded", "--yes", check=True)
    (after,) = exchange(served, get(der))
    assert ocsp_of(after).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert after.headers["etag"] != first.headers["etag"]


# -- status changes made by another process, seen by every worker ---------------------------------------


def test_a_status_change_in_another_process_is_seen_at_once_by_every_worker(two_workers: Served) -> None:
    served = two_workers
    serial, leaf, _ = issue(served.instance, "Bình", "079203100002")
    for _ in range(8):  # new connections, spread over both workers: each keeps the answer in memory
        answer = openssl_ocsp(served, leaf, "-no_nonce")
        assert "Response verify OK" in answer and f"{leaf}: good" in answer, answer

    kyso(served.instance, "ca", "suspend", serial, check=True)  # the CLI: another process
    for _ in range(8):
        answer = openssl_ocsp(served, leaf, "-no_nonce")
        assert f"{leaf}: revoked" in answer and "Reason: certificateHold" in answer, answer

    kyso(served.instance, "ca", "reinstate", serial, check=True)
    for _ in range(8):
        assert f"{leaf}: good" in openssl_ocsp(served, leaf, "-no_nonce")

    kyso(served.instance, "ca", "revoke", serial, "--reason", "key-compromise", "--yes", check=True)
    for _ in range(8):
        answer = openssl_ocsp(served, leaf, "-no_nonce")
        assert "Response verify OK" in answer and f"{leaf}: revoked" in answer, answer
        assert "Reason: keyCompromise" in answer


def test_several_workers_answer(two_workers: Served) -> None:
    served = two_workers
    _, leaf, _ = issue(served.instance, "Cường", "079203100003")
    request = post(request_der(served, leaf))
    workers: set[str] = set()
    for _attempt in range(20):
        sockets = [socket.create_connection(("127.0.0.1", served.port), timeout=30) for _ in range(12)]
        try:
            for sock in sockets:  # keep-alive: each connection stays open on the worker that accepted it
                sock.sendall(request)
                assert ocsp_of(read_answer(sock, bytearray())).certificate_status is ocsp.OCSPCertStatus.GOOD
            owners = run_tool("ss", "-Htnp", "state", "established", f"( sport = :{served.port} )").stdout
            workers |= set(re.findall(r"pid=(\d+)", owners))
        finally:
            for sock in sockets:
                sock.close()
        if len(workers) >= 2:
            break
    assert len(workers) == 2, workers
    assert str(served.process.pid) not in workers  # the supervisor only watches


# -- nonces ---------------------------------------------------------------------------------------------


def test_a_nonce_is_echoed_in_a_fresh_response(one_worker: Served, tmp_path: Path) -> None:
    served = one_worker
    _, leaf, _ = issue(served.instance, "Dũng", "079203100004")
    assert f"{leaf}: good" in openssl_ocsp(served, leaf, "-no_nonce")  # a pre-produced answer exists
    bodies = []
    for i in range(2):
        out = tmp_path / f"nonce{i}.der"
        answer = openssl_ocsp(served, leaf, "-respout", out)  # openssl sends a nonce and checks the echo
        assert "Response verify OK" in answer and f"{leaf}: good" in answer, answer
        assert "WARNING" not in answer, answer  # such as "WARNING: no nonce in response"
        bodies.append(out.read_bytes())
    assert bodies[0] != bodies[1]
    nonces = [
        ocsp.load_der_ocsp_response(b).extensions.get_extension_for_class(x509.OCSPNonce) for b in bodies
    ]
    assert nonces[0].value.nonce != nonces[1].value.nonce
    (answer,) = exchange(served, get(request_der(served, leaf, nonce=True)))
    assert answer.headers["cache-control"] == "no-cache" and "etag" not in answer.headers


# -- bad input on the connection handler -----------------------------------------------------------------


def test_the_lean_path_answers_bad_input_with_protocol_errors_never_a_500(one_worker: Served) -> None:
    served = one_worker
    _, leaf, _ = issue(served.instance, "Giang", "079203100005")
    valid = request_der(served, leaf)
    opened = time.monotonic()
    idle = socket.create_connection(("127.0.0.1", served.port), timeout=30)  # says nothing
    stalled = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    stalled.sendall(post(valid)[:40])  # and the rest never comes

    def status_of(raw: bytes) -> ocsp.OCSPResponseStatus:
        (answer,) = exchange(served, raw)
        assert answer.status == 200, answer
        return ocsp_of(answer).response_status

    assert status_of(post(b"garbage")) is MALFORMED
    assert status_of(post(valid[: len(valid) // 2])) is MALFORMED
    assert status_of(post(b"")) is MALFORMED
    assert status_of(post(valid + b"\x00")) is MALFORMED
    assert status_of(b"GET /ocsp/citizen/%%%not-base64 HTTP/1.1\r\nHost: x\r\n\r\n") is MALFORMED
    assert status_of(b"GET /ocsp/citizen/" + b"A" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") is MALFORMED
    assert status_of(post(valid, path="/ocsp/nowhere")) is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert status_of(post(valid, path="/ocsp/government")) is ocsp.OCSPResponseStatus.UNAUTHORIZED
    # a body announced at 20 MB: answered without reading it
    huge = b"POST /ocsp/citizen HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n" + b"\x30" * 65536
    assert status_of(huge) is MALFORMED
    chunked = b"POST /ocsp/citizen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"%x\r\n" % len(valid) + valid + b"\r\n0\r\n\r\n"
    (answer,) = exchange(served, chunked)
    assert answer.status == 200 and ocsp_of(answer).certificate_status is ocsp.OCSPCertStatus.GOOD
    (answer,) = exchange(served, b"POST /ocsp/citizen HTTP/1.1\r\nBroken header line\r\n\r\n")
    assert 400 <= answer.status < 500

    # odd but valid HTTP: a request in many small writes, two pipelined, HTTP/1.0 with and without keep-alive
    (answer,) = exchange(served, post(valid), pieces=9)
    assert ocsp_of(answer).certificate_status is ocsp.OCSPCertStatus.GOOD
    first, second = exchange(served, post(b"junk") + post(valid), answers=2)
    assert ocsp_of(first).response_status is MALFORMED
    assert ocsp_of(second).certificate_status is ocsp.OCSPCertStatus.GOOD
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        buffer = bytearray()
        sock.sendall(post(valid, version="1.0") + post(valid))  # HTTP/1.0 closes: the second goes unanswered
        assert read_answer(sock, buffer).headers["connection"] == "close"
        assert not buffer and sock.recv(65536) == b""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        buffer = bytearray()
        sock.sendall(post(valid, version="1.0", extra="Connection: keep-alive\r\n"))
        assert read_answer(sock, buffer).headers["connection"] == "keep-alive"
        sock.sendall(post(valid))
        assert ocsp_of(read_answer(sock, buffer)).certificate_status is ocsp.OCSPCertStatus.GOOD

    # connections that say nothing, or stop mid-request, are closed after the keep-alive timeout (5 s)
    time.sleep(max(0.0, opened + 9 - time.monotonic()))
    for sock in (idle, stalled):
        with sock:
            assert sock.recv(65536) == b""

    # the rest of the service is untouched, on the same connection handler
    with urllib.request.urlopen(f"{served.url}/healthz") as response:
        assert response.status == 200
    assert f"{leaf}: good" in openssl_ocsp(served, leaf)
    assert "Traceback" not in served.log.read_text()


# -- the cache itself, in process -------------------------------------------------------------------------


def test_the_cache_answers_from_memory_until_the_status_version_moves(instance: Instance) -> None:
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    runtime = CaRuntime.from_settings(instance.settings, clock=clock)  # its own engine: another connection
    versions = StatusVersions(runtime.db)
    cache = CachingOcspResponder(OcspResponder(runtime.ca), runtime.db, versions, render)
    try:
        with instance.db.reading() as session:
            issuer = instance.ca.authority(session, "citizen").certificate
        serial, _, certificate = issue(instance, "Hà", "079203100006")
        der = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
        der = der.public_bytes(serialization.Encoding.DER)

        assert cache.lookup("citizen", der) is None  # nothing kept yet
        produced = cache.answer("citizen", der)
        kept = cache.lookup("citizen", der)
        assert kept is not None and kept.body == produced.body
        assert ocsp.load_der_ocsp_response(kept.body).certificate_status is ocsp.OCSPCertStatus.GOOD

        with instance.db.transaction() as session:  # the fixture's engine, not the cache's
            lifecycle.revoke(instance.ca, session, serial, "affiliation-changed")
        assert cache.lookup("citizen", der) is None
        revoked = cache.answer("citizen", der)
        assert ocsp.load_der_ocsp_response(revoked.body).certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert cache.lookup("citizen", der) is revoked

        clock.advance(hours=runtime.ca.status_policy.ocsp_validity.total_seconds() / 3600 / 2)
        assert cache.lookup("citizen", der) is None  # half its validity passed: a fresher one is produced
        fresher = cache.answer("citizen", der)
        this_update = ocsp.load_der_ocsp_response(fresher.body).this_update_utc
        assert this_update == clock.now().replace(microsecond=0)
    finally:
        versions.close()
        runtime.db.dispose()
