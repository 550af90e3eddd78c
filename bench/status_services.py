"""OCSP answers/s over HTTP beside `openssl ocsp` as a responder, TSA replies/s, and CRL generation for
100,000 revoked entries. One run, one machine, the same certificate serials and the same load generator
(bench/loadgen.c, N requests in flight) for both responders.

First three seconds of load for each responder (kyso's workers then hold every answer in memory, as a
responder that has been running does); then, each after a one-second warm-up at its level:
  for each --clients level, --rounds alternating rounds of
    OCSP kyso serve (--workers N), a new connection per request (HTTP/1.0, as openssl's client sends and
         openssl's responder answers: it closes every connection) — the comparable figure;
    OCSP openssl ocsp -index … -port … (one process, the issue's peer), a new connection per request;
    floor: bench/floor_server.py, a do-nothing asyncio server with N processes answering fixed bytes —
         what accepting, reading, writing and closing costs any Python responder here;
  OCSP kyso serve, keep-alive (HTTP/1.1), for what a client that keeps its connection gets;
  OCSP kyso serve, requests with a nonce (a response signed per request, as openssl signs every one);
  TSA kyso serve (SHA-256 imprint, nonce, certReq), a new connection per request;
  OCSP openssl ocsp … -multi N (as many processes as kyso has workers), at each level;
  CRL generation and signing with 100,000 revoked entries (crl.publish, in process).
Medians of the rounds are reported: the machine is shared and its load moves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from sqlalchemy import insert

from bench import http_load
from bench.http_load import LoadResult, http_request
from ca import crl
from ca.hierarchy import initialise
from ca.issuance import IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.settings import Settings
from store.migrate import upgrade
from store.models import Certificate

VENV_BIN = Path(sys.executable).parent
OCSP_REQUEST = "application/ocsp-request"
TSA_QUERY = "application/timestamp-query"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def ocsp_requests(
    certificates: list[x509.Certificate], issuer: x509.Certificate, *, nonce: bool
) -> list[bytes]:
    requests = []
    for certificate in certificates:
        builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
        if nonce:
            builder = builder.add_extension(x509.OCSPNonce(secrets.token_bytes(16)), critical=False)
        requests.append(builder.build().public_bytes(serialization.Encoding.DER))
    return requests


def start_kyso(settings: Settings, directory: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        KYSO_DATA_DIR=str(settings.data_dir),
        KYSO_DATABASE_URL=settings.resolved_database_url,
        KYSO_MASTER_KEY=settings.master_key.get_secret_value(),  # type: ignore[union-attr]
        KYSO_BASE_URL=settings.base_url,
    )
    log = directory / "kyso-serve.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=directory, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            time.sleep(0.2)
    else:
        _stop(process)
        raise RuntimeError(f"kyso serve did not start:\n{log.read_text(errors='replace')}")
    time.sleep(2.0 * workers)  # every worker imports the application before it accepts
    return process, port


# -- openssl ocsp as the peer -------------------------------------------------------------------------------


def openssl_peer(directory: Path, serials: list[int]) -> tuple[list[Path], list[bytes]]:
    """A P-384 CA and a P-256 delegated responder, as Kyso's, with an index of the same serials (valid)."""
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
    return paths, requests


def start_openssl(directory: Path, files: list[Path], processes: int) -> tuple[subprocess.Popen, int]:
    ca, responder, key, index = files
    port = _free_port()
    args = ["openssl", "ocsp", "-index", str(index), "-port", str(port), "-rsigner", str(responder),
            "-rkey", str(key), "-CA", str(ca), "-ndays", "1"]  # fmt: skip
    if processes > 1:
        args += ["-multi", str(processes)]
    log_path = directory / f"openssl-ocsp-{port}.log"
    process = subprocess.Popen(
        args,
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        # -multi makes itself a process-group leader, which a session leader cannot; one process gets its
        # own session so that _stop can signal its group either way.
        start_new_session=processes == 1,
    )
    # No probe connection: the single-threaded responder would wait on it for a request that never comes.
    ready = "waiting for OCSP client connections" if processes == 1 else "ACCEPT"
    deadline = time.monotonic() + 30
    while ready not in log_path.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"openssl ocsp did not start: {log_path.read_text(errors='replace')}")
        time.sleep(0.1)
    time.sleep(1.0)
    return process, port


def fetch(port: int, path: str, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(http_request(path, request, OCSP_REQUEST, keep_alive=False))
        response = b"".join(iter(lambda: sock.recv(65536), b""))
    return response.partition(b"\r\n\r\n")[2]


def start_floor(directory: Path, processes: int, answer: bytes) -> tuple[subprocess.Popen, int]:
    """bench.floor_server: a do-nothing asyncio server with ``processes`` workers on one socket."""
    port = _free_port()
    (directory / "floor-answer.der").write_bytes(answer)
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.floor_server", str(port), str(processes), str(directory / "floor-answer.der")],
        stdout=subprocess.PIPE, start_new_session=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert process.stdout is not None and b"ready" in process.stdout.readline()
    time.sleep(0.5)
    return process, port


def check_answer(port: int, path: str, request: bytes) -> str:
    answer = ocsp.load_der_ocsp_response(fetch(port, path, request))
    if answer.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return answer.response_status.name
    return answer.certificate_status.name


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


# -- the run ----------------------------------------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, directory: Path, loadgen: Path | None) -> None:
        self.args, self.directory, self.loadgen = args, directory, loadgen

    def measure(
        self, server: subprocess.Popen, port: int, requests: list[bytes], keep_alive: bool, clients: int
    ) -> LoadResult:
        def once(seconds: float) -> LoadResult:
            return http_load.run(
                self.loadgen, requests, port, concurrency=clients, seconds=seconds,
                keep_alive=keep_alive, server_pgid=server.pid, directory=self.directory,
            )  # fmt: skip

        once(1.0)  # warm-up at this level
        return once(self.args.seconds)

    def prime(self, server: subprocess.Popen, port: int, requests: list[bytes], clients: int) -> None:
        http_load.run(
            self.loadgen, requests, port, concurrency=clients, seconds=3.0, keep_alive=False,
            server_pgid=server.pid, directory=self.directory,
        )  # fmt: skip


def _levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("give one or more positive numbers, e.g. 8,32")
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench status_services", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--certificates", type=int, default=200, help="certificates both responders know")
    parser.add_argument("--seconds", type=float, default=10, help="load duration per scenario")
    parser.add_argument("--clients", type=_levels, default=[8, 32],
                        help="requests in flight (the load's concurrency); the OCSP pair and the floor are "
                        "measured at each of these levels, the other scenarios at the first")  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=2, help="kyso serve workers; openssl -multi gets as many"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the OCSP pair")
    parser.add_argument("--revoked", type=int, default=100_000, help="CRL entries")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("openssl") is None:
        print("openssl is needed for the peer", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    first = args.clients[0]
    with tempfile.TemporaryDirectory(prefix="kyso-bench-") as tmp:
        directory = Path(tmp)
        loadgen = None if args.python_load else http_load.compile_loadgen(directory)
        runner = Runner(args, directory, loadgen)
        settings, runtime, issued = kyso_instance(directory, args.certificates)
        with runtime.db.reading() as session:
            issuer = runtime.ca.authority(session, "citizen").certificate
        keep = loadgen is not None  # the Python generator speaks HTTP/1.0 only

        def posts(path: str, bodies: list[bytes], content_type: str, keep_alive: bool = False) -> list[bytes]:
            return [http_request(path, b, content_type, keep_alive=keep_alive) for b in bodies]

        plain = ocsp_requests(issued, issuer, nonce=False)
        kyso_close = posts("/ocsp/citizen", plain, OCSP_REQUEST)
        kyso_keep = posts("/ocsp/citizen", plain, OCSP_REQUEST, keep_alive=True)
        kyso_nonce = posts("/ocsp/citizen", ocsp_requests(issued, issuer, nonce=True), OCSP_REQUEST)
        tsa = posts("/tsa", [_tsa_query() for _ in range(50)], TSA_QUERY)
        peer_files, peer_bodies = openssl_peer(directory, [c.serial_number for c in issued])
        peer_close = posts("/", peer_bodies, OCSP_REQUEST)
        peer_keep = posts("/", peer_bodies, OCSP_REQUEST, keep_alive=True)

        kyso, kyso_port = start_kyso(settings, directory, args.workers)
        peer, peer_port = start_openssl(directory, peer_files, 1)
        pair: dict[int, dict[str, list[LoadResult]]] = {
            c: {"kyso": [], "openssl": [], "floor": []} for c in args.clients
        }
        same_client: dict[str, list[LoadResult]] = {"kyso": [], "openssl": []}
        floor = None
        try:
            assert check_answer(kyso_port, "/ocsp/citizen", plain[0]) == "GOOD"
            assert check_answer(peer_port, "/", peer_bodies[0]) == "GOOD"
            floor, floor_port = start_floor(
                directory, args.workers, fetch(kyso_port, "/ocsp/citizen", plain[0])
            )
            # Three seconds of load for each before anything is measured: both kyso workers have every answer
            # in memory (as a responder that has been running does), openssl has its index loaded.
            for server, port, requests in ((kyso, kyso_port, kyso_close), (peer, peer_port, peer_close)):
                runner.prime(server, port, requests, max(args.clients))
            for clients in args.clients:
                for _ in range(args.rounds):
                    pair[clients]["kyso"].append(runner.measure(kyso, kyso_port, kyso_close, False, clients))
                    pair[clients]["openssl"].append(
                        runner.measure(peer, peer_port, peer_close, False, clients)
                    )
                    pair[clients]["floor"].append(
                        runner.measure(floor, floor_port, kyso_close, False, clients)
                    )
            # The same client for both, asking for keep-alive as HTTP/1.1 clients do: Kyso keeps the connection,
            # openssl's responder answers in HTTP/1.0 and closes it, and the generator reconnects.
            for _ in range(args.rounds if keep else 0):
                same_client["kyso"].append(runner.measure(kyso, kyso_port, kyso_keep, True, first))
                same_client["openssl"].append(runner.measure(peer, peer_port, peer_keep, True, first))
            _stop(peer)
            _stop(floor)
            keep_alive = _median(same_client["kyso"]) if keep else None
            nonce = runner.measure(kyso, kyso_port, kyso_nonce, False, first)
            tsa_result = runner.measure(kyso, kyso_port, tsa, False, first)
        finally:
            _stop(kyso)
            _stop(peer)
            if floor is not None:
                _stop(floor)
        multi: dict[int, LoadResult] = {}
        multi_keep = None
        if args.workers > 1:
            peer, peer_port = start_openssl(directory, peer_files, args.workers)
            try:
                for clients in args.clients:
                    multi[clients] = runner.measure(peer, peer_port, peer_close, False, clients)
                if keep:
                    multi_keep = runner.measure(peer, peer_port, peer_keep, True, first)
            finally:
                _stop(peer)
        crl_seconds, crl_bytes = crl_for(runtime, args.revoked)
        runtime.db.dispose()
    report = {
        "generator": "bench/loadgen.c" if loadgen else "python", "workers": args.workers,
        "seconds": args.seconds, "rounds": args.rounds, "certificates": args.certificates,
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "ocsp": {str(c): _level(pair[c], multi.get(c)) for c in args.clients},
        "clients": first,
        "same_client": _same_client(same_client, multi_keep) if keep else None,
        "ocsp_kyso_keep_alive": _summary(keep_alive), "ocsp_kyso_nonce": _summary(nonce), "tsa": _summary(tsa_result),
        "crl_entries": args.revoked, "crl_seconds": round(crl_seconds, 2), "crl_bytes": crl_bytes,
    }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report, args)
    return 0


def _median(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]


def _summary(result: LoadResult | None) -> dict[str, float] | None:
    if result is None:
        return None
    return {
        "per_s": round(result.rate, 1), "errors": result.errors,
        "server_cpu_us_per_answer": round(result.server_us_per_answer, 1),
        "generator_cpu_us_per_answer": round(result.generator_us_per_answer, 1),
    }  # fmt: skip


def _same_client(results: dict[str, list[LoadResult]], multi: LoadResult | None) -> dict[str, object]:
    kyso, peer = _median(results["kyso"]), _median(results["openssl"])
    return {
        "kyso": _summary(kyso), "openssl": _summary(peer), "openssl_multi": _summary(multi),
        "rounds": {k: [round(r.rate) for r in v] for k, v in results.items()},
        "ratio": round(kyso.rate / peer.rate, 2) if peer.rate else None,
        "ratio_multi": round(kyso.rate / multi.rate, 2) if multi is not None and multi.rate else None,
    }  # fmt: skip


def _level(results: dict[str, list[LoadResult]], multi: LoadResult | None) -> dict[str, object]:
    kyso, peer, floor = (_median(results[k]) for k in ("kyso", "openssl", "floor"))
    return {
        "kyso": _summary(kyso), "openssl": _summary(peer), "openssl_multi": _summary(multi), "floor": _summary(floor),
        "rounds": {k: [round(r.rate) for r in v] for k, v in results.items()},
        "ratio": round(kyso.rate / peer.rate, 2) if peer.rate else None,
        "ratio_multi": round(kyso.rate / multi.rate, 2) if multi is not None and multi.rate else None,
        "floor_ratio": round(floor.rate / peer.rate, 2) if peer.rate else None,
    }  # fmt: skip


def _row(label: str, row: dict | None) -> None:
    if row is not None:
        print(f"{label:<60}{row['per_s']:>8.0f}{row['errors']:>8}{row['server_cpu_us_per_answer']:>15.0f}"
              f"{row['generator_cpu_us_per_answer']:>13.0f}")  # fmt: skip


def _print(report: dict, args: argparse.Namespace) -> None:
    generator = (
        "bench/loadgen.c (one epoll process)" if report["generator"] != "python" else "Python processes"
    )
    print(f"Status services: {args.certificates} certificates (the same serials for both responders), kyso serve "
          f"--workers {args.workers}; load: {generator}; {args.seconds:g} s per scenario after a 1 s warm-up; "
          f"OCSP pair and floor: median of {args.rounds} alternating rounds")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs, load average {report['load_average'][0]} before, "
          f"{report['load_average'][1]} after")  # fmt: skip
    print(f"{'scenario':<60}{'per s':>8}{'errors':>8}{'server CPU µs':>15}{'load CPU µs':>13}")
    verdicts = []
    for clients, level in report["ocsp"].items():
        print(f"-- OCSP, a new connection per request (HTTP/1.0), {clients} requests in flight")
        _row("kyso serve (pre-produced, no nonce)", level["kyso"])
        _row("openssl ocsp, 1 process (the issue's peer)", level["openssl"])
        _row(f"openssl ocsp -multi {args.workers}", level["openssl_multi"])
        _row(f"floor: do-nothing asyncio server, {args.workers} processes", level["floor"])
        rounds = level["rounds"]
        print(f"   rounds per s: kyso {rounds['kyso']}, openssl {rounds['openssl']}, floor {rounds['floor']}")
        line = f"   kyso / openssl: {level['ratio']:.2f}"
        if level["ratio_multi"] is not None:
            line += f" (against -multi {args.workers}: {level['ratio_multi']:.2f})"
        print(f"{line}; floor / openssl: {level['floor_ratio']:.2f}")
        verdicts.append(level["ratio"] >= 2)
    same = report["same_client"]
    if same is not None:
        print(
            f"-- OCSP, the same client asking for keep-alive (HTTP/1.1), {report['clients']} requests in flight"
        )
        _row("kyso serve (keeps the connection)", same["kyso"])
        _row("openssl ocsp, 1 process (answers HTTP/1.0, closes)", same["openssl"])
        _row(f"openssl ocsp -multi {args.workers}", same["openssl_multi"])
        rounds = same["rounds"]
        print(f"   rounds per s: kyso {rounds['kyso']}, openssl {rounds['openssl']}")
        line = f"   kyso / openssl: {same['ratio']:.2f}"
        if same["ratio_multi"] is not None:
            line += f" (against -multi {args.workers}: {same['ratio_multi']:.2f})"
        print(line)
    print(f"-- {report['clients']} requests in flight")
    _row("OCSP kyso, with a nonce (signed per request), new connection", report["ocsp_kyso_nonce"])
    _row("TSA kyso (SHA-256, nonce, certReq), new connection", report["tsa"])
    print(f"OCSP target kyso >= 2 x openssl ocsp, a new connection per request: "
          f"{'met' if all(verdicts) else 'not met'}")  # fmt: skip
    if same is not None:
        print(f"OCSP target kyso >= 2 x openssl ocsp, the same keep-alive client: "
              f"{'met' if same['ratio'] >= 2 else 'not met'}")  # fmt: skip
    print(f"CRL with {args.revoked:,} revoked entries: generated and signed in {report['crl_seconds']:.2f} s, "
          f"{report['crl_bytes']:,} bytes DER")  # fmt: skip


def _stop(process: subprocess.Popen) -> None:
    """Stop a server and the worker processes it forked (its process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        process.wait()
    except subprocess.TimeoutExpired:
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
