"""OCSP responses/s over HTTP beside `openssl ocsp` as a responder, TSA replies/s, and CRL generation for
100,000 revoked entries. One run, one machine, the same load generator for both responders."""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from sqlalchemy import insert

from ca import crl
from ca.hierarchy import initialise
from ca.issuance import IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.settings import Settings
from store.migrate import upgrade
from store.models import Certificate

VENV_BIN = Path(sys.executable).parent
KYSO_HOST = "127.0.0.1"
OPENSSL_HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 30, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection(host, port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


# -- load generator: processes that POST prepared bodies for a fixed time, a new connection each time ------


def post(host: str, port: int, path: str, content_type: str, body: bytes) -> bytes:
    """One HTTP/1.0 POST on a new connection (what `openssl ocsp`'s responder speaks); returns the body."""
    with socket.create_connection((host, port), timeout=10) as sock:
        head = f"POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks)
    status_line, _, rest = response.partition(b"\r\n")
    if b" 200 " not in status_line:
        raise OSError(f"HTTP status {status_line!r}")
    return rest.partition(b"\r\n\r\n")[2]


def _client(
    host: str, port: int, path: str, content_type: str, bodies: list[bytes], seconds: float, queue
) -> None:
    done = errors = 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        try:
            if post(host, port, path, content_type, bodies[i % len(bodies)]):
                done += 1
            else:
                errors += 1
        except OSError:
            errors += 1
        i += 1
    queue.put((done, errors))


def load(
    host: str, port: int, path: str, content_type: str, bodies: list[bytes], seconds: float, clients: int
) -> tuple[float, int]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [
        context.Process(target=_client, args=(host, port, path, content_type, bodies, seconds, queue))
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=seconds + 60) for _ in processes]
    for process in processes:
        process.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


# -- Kyso ------------------------------------------------------------------------------------------------


def kyso_instance(directory: Path, certificates: int) -> tuple[Settings, CaRuntime, list[x509.Certificate]]:
    settings = Settings(
        data_dir=directory / "var",
        database_url=f"sqlite:///{directory / 'kyso.db'}",
        master_key=secrets.token_urlsafe(36),
        base_url="http://pki.kyso.example.com",
    )
    runtime = CaRuntime.from_settings(settings)
    upgrade(runtime.db)
    issued = []
    with runtime.db.transaction() as session:
        initialise(session, runtime.ca, "ec-p384")
        for i in range(certificates):
            subject = SubjectFields(surname="Nguyễn", given_name=f"Văn {i}", cccd=f"0792{i % 100:02d}{i:06d}")
            info = runtime.ca.issue(session, IssueRequest("citizen", subject)).certificate
            issued.append(x509.load_pem_x509_certificate(info.certificate_pem.encode()))
    return settings, runtime, issued


def ocsp_requests(certificates: list[x509.Certificate], issuer: x509.Certificate) -> list[bytes]:
    return [
        ocsp.OCSPRequestBuilder()
        .add_certificate(c, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
        for c in certificates
    ]


def start_kyso(settings: Settings, directory: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        KYSO_DATA_DIR=str(settings.data_dir),
        KYSO_DATABASE_URL=settings.resolved_database_url,
        KYSO_MASTER_KEY=settings.master_key.get_secret_value(),  # type: ignore[union-attr]
        KYSO_BASE_URL=settings.base_url,
    )
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    _wait_port(port)
    time.sleep(1.0 + workers)  # let every worker finish starting
    return process, port


# -- openssl ocsp as the peer -------------------------------------------------------------------------------


def openssl_peer(directory: Path, count: int) -> tuple[Path, Path, Path, Path, list[bytes]]:
    """A P-384 CA and a P-256 delegated responder, as Kyso's, with an index of ``count`` valid certificates."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Peer CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA384())
    )  # fmt: skip
    responder_key = ec.generate_private_key(ec.SECP256R1())
    responder = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Peer OCSP")]))
        .issuer_name(ca_name).public_key(responder_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA384())
    )  # fmt: skip
    paths = [directory / n for n in ("ca.pem", "responder.pem", "responder.key", "index.txt")]
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(responder.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        responder_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    expiry = (now + dt.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    serials = [x509.random_serial_number() for _ in range(count)]
    paths[3].write_text(
        "".join(f"V\t{expiry}\t\t{s:X}\tunknown\t/CN=peer {i}\n" for i, s in enumerate(serials))
    )
    requests = []  # built by openssl's own client, the requests its responder is used to
    for serial in serials:
        out = directory / "request.der"
        subprocess.run(
            ["openssl", "ocsp", "-issuer", str(paths[0]), "-serial", f"0x{serial:X}", "-no_nonce", "-reqout", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
        requests.append(out.read_bytes())
    return paths[0], paths[1], paths[2], paths[3], requests


def start_openssl(
    directory: Path, ca: Path, responder: Path, key: Path, index: Path, workers: int
) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    args = ["openssl", "ocsp", "-index", str(index), "-port", str(port), "-rsigner", str(responder),
            "-rkey", str(key), "-CA", str(ca), "-ndays", "1"]  # fmt: skip
    if workers > 1:
        args += ["-multi", str(workers)]
    log = (directory / "openssl-ocsp.log").open("wb")
    process = subprocess.Popen(
        args,
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # No probe connection: the single-threaded responder would wait on it for a request that never comes.
    log_path = directory / "openssl-ocsp.log"
    deadline = time.monotonic() + 30
    while "waiting for OCSP client connections" not in log_path.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"openssl ocsp did not start: {log_path.read_text(errors='replace')}")
        time.sleep(0.1)
    time.sleep(0.5)
    return process, port


def check_answer(host: str, port: int, path: str, request: bytes) -> str:
    answer = ocsp.load_der_ocsp_response(post(host, port, path, "application/ocsp-request", request))
    return (
        answer.certificate_status.name
        if answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        else answer.response_status.name
    )


# -- CRL --------------------------------------------------------------------------------------------------


def crl_for(runtime: CaRuntime, revoked: int) -> tuple[float, int]:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "serial": format(x509.random_serial_number(), "x").zfill(40), "authority_id": "citizen", "profile": "citizen",
            "status": "revoked", "subject": "CN=x", "subject_fields": "{}", "common_name": "x",
            "key_algorithm": "ec-p256", "not_before": now, "not_after": now + dt.timedelta(days=700),
            "created_at": now, "revoked_at": now, "revocation_reason": "superseded" if i % 2 else "key-compromise",
        }
        for i in range(revoked)
    ]  # fmt: skip
    with runtime.db.transaction() as session:
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Certificate), rows[start : start + 10_000])
    started = time.perf_counter()
    with runtime.db.transaction() as session:
        info = crl.publish(session, runtime.ca, "citizen")
    return time.perf_counter() - started, len(info.der)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench status_services", description=__doc__)
    parser.add_argument("--certificates", type=int, default=200, help="certificates the responders know")
    parser.add_argument("--seconds", type=float, default=10, help="load duration per scenario")
    parser.add_argument("--clients", type=int, default=4, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=1, help="server processes for both responders")
    parser.add_argument("--revoked", type=int, default=100_000, help="CRL entries")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("openssl") is None:
        print("openssl is needed for the peer", file=sys.stderr)
        return 2
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="kyso-bench-") as tmp:
        directory = Path(tmp)
        settings, runtime, issued = kyso_instance(directory, args.certificates)
        with runtime.db.reading() as session:
            issuer = runtime.ca.authority(session, "citizen").certificate
        kyso_requests = ocsp_requests(issued, issuer)
        peer_files = openssl_peer(directory, args.certificates)
        peer_requests = peer_files[4]

        server, port = start_kyso(settings, directory, args.workers)
        try:
            assert check_answer(KYSO_HOST, port, "/ocsp/citizen", kyso_requests[0]) == "GOOD"
            for request in kyso_requests:  # pre-produce, as `kyso serve` would have over time
                check_answer(KYSO_HOST, port, "/ocsp/citizen", request)
            kyso_rate, kyso_errors = load(
                KYSO_HOST,
                port,
                "/ocsp/citizen",
                "application/ocsp-request",
                kyso_requests,
                args.seconds,
                args.clients,
            )
            query = _tsa_query()
            tsa_rate, tsa_errors = load(
                KYSO_HOST, port, "/tsa", "application/timestamp-query", [query], args.seconds, args.clients
            )
        finally:
            _stop(server)
        peer, peer_port = start_openssl(directory, *peer_files[:4], args.workers)
        peer_rate, peer_errors = 0.0, -1
        try:
            check_answer(OPENSSL_HOST, peer_port, "/", peer_requests[0])
            peer_rate, peer_errors = load(
                OPENSSL_HOST,
                peer_port,
                "/",
                "application/ocsp-request",
                peer_requests,
                args.seconds,
                args.clients,
            )
        except (OSError, AssertionError, ValueError) as exc:
            print(f"the openssl ocsp peer did not answer this load generator: {exc}", file=sys.stderr)
        finally:
            _stop(peer)
        crl_seconds, crl_bytes = crl_for(runtime, args.revoked)
        runtime.db.dispose()
    results = {
        "ocsp_kyso_per_s": round(kyso_rate, 1), "ocsp_kyso_errors": kyso_errors,
        "ocsp_openssl_per_s": round(peer_rate, 1), "ocsp_openssl_errors": peer_errors,
        "ocsp_ratio": round(kyso_rate / peer_rate, 2) if peer_rate else None,
        "tsa_per_s": round(tsa_rate, 1), "tsa_errors": tsa_errors,
        "crl_entries": args.revoked, "crl_seconds": round(crl_seconds, 2), "crl_bytes": crl_bytes,
    }  # fmt: skip
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"Status services: {args.certificates} certificates, {args.workers} server processes each, "
          f"{args.clients} load processes, {args.seconds:.0f} s per scenario, a new connection per request")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'scenario':<46}{'per s':>10}{'errors':>8}")
    print(f"{'OCSP, kyso serve (pre-produced, no nonce)':<46}{kyso_rate:>10.0f}{kyso_errors:>8}")
    print(f"{'OCSP, openssl ocsp (peer)':<46}{peer_rate:>10.0f}{peer_errors:>8}")
    ratio = kyso_rate / peer_rate if peer_rate else float("nan")
    print(f"OCSP ratio kyso / openssl: {ratio:.2f}  (target >= 2.0: {'met' if ratio >= 2 else 'not met'})")
    print(f"{'TSA, kyso serve (SHA-256, nonce, certReq)':<46}{tsa_rate:>10.0f}{tsa_errors:>8}")
    print(
        f"CRL with {args.revoked:,} revoked entries: generated and signed in {crl_seconds:.2f} s, {crl_bytes:,} bytes DER"
    )
    return 0


def _stop(process: subprocess.Popen) -> None:
    """Stop a server and the worker processes it forked."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _tsa_query() -> bytes:
    from asn1crypto import algos, core, tsp

    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"benchmark document")
    return tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": digest.finalize(),
            },
            "nonce": core.Integer(secrets.randbits(63)),
            "cert_req": True,
        }
    ).dump()


if __name__ == "__main__":
    sys.exit(main())
