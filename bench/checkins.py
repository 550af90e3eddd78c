"""Check-ins per second through the HTTP API on PostgreSQL (`kyso serve --workers 2`), with latency
percentiles, and offline verifications per second in process, beside the raw ECDSA verify rate.

HTTP: a throwaway PostgreSQL (the test suite's), a venue with desks, a desk account logged in with a
bearer token, and ``--invitations`` single-entry passes created beforehand. An asyncio load generator
holds ``--clients`` keep-alive connections and posts each pass once to ``POST /api/v1/checkins``, timing
every answer; every request is a real decision (signature, venue, state, the conditional UPDATE, the
check-in row, the audit entry). Afterwards the database must hold exactly one check-in per admit.

Offline: the desk's in-memory verification (``invitations.token.verify`` with a cached key set: base45,
CBOR, COSE, ECDSA P-256, claims, time window) over distinct tokens, in one process and in one process
per CPU; the peer is cryptography's bare ``verify`` of a P-256 signature, the floor for any verifier.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.http_load import command_cpu, group_cpu

VENV_BIN = Path(sys.executable).parent
VENUE, DESKS = "UBND-BT", ["gate-1", "gate-2", "gate-3", "gate-4"]
PASSWORD = "bench password, long enough"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- offline verification -----------------------------------------------------------------------------
def _tokens(count: int):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from invitations import token
    from invitations.keys import KeySet, PassSigner

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench seal")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    seal = PassSigner(lambda data: key.sign(data, ec.ECDSA(hashes.SHA256())), certificate)
    start = int(now.timestamp()) - 60
    texts = [
        token.encode(
            token.InvitationClaims(
                secrets.token_hex(8),
                VENUE,
                "Nguyễn Thị Minh Khai",
                start,
                start + 7200,
                secrets.token_bytes(8),
                cccd_hash=secrets.token_bytes(16),
            ),
            seal,
        )
        for _ in range(count)
    ]
    return texts, KeySet.of([seal.trusted_key()]), key, now


def _verify_for(seconds: float, count: int, queue) -> None:
    from invitations import token

    texts, keys, _, now = _tokens(count)
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for text in texts[:200]:
            if not token.verify(text, keys, now).ok:
                raise RuntimeError("a genuine token did not verify")
        done += 200
        texts = texts[200:] + texts[:200]
    queue.put(done / seconds)


def _rate(seconds: float, step: Callable[[], int]) -> tuple[float, float]:
    """(per wall second, per CPU second of this process): on a shared machine the second is the fair one."""
    done, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        done += step()
    return done / (time.perf_counter() - wall), done / (time.process_time() - cpu)


def offline_rates(seconds: float, processes: int) -> dict[str, float]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from invitations import token

    texts, keys, key, now = _tokens(2000)
    public, signature = key.public_key(), key.sign(b"x" * 150, ec.ECDSA(hashes.SHA256()))
    algorithm = ec.ECDSA(hashes.SHA256())

    def bare() -> int:
        for _ in range(200):
            public.verify(signature, b"x" * 150, algorithm)
        return 200

    def kyso() -> int:
        for text in texts:
            token.verify(text, keys, now)
        return len(texts)

    raw_wall, raw_cpu = _rate(seconds, bare)
    single_wall, single_cpu = _rate(seconds, kyso)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_verify_for, args=(seconds, 2000, queue)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    parallel = sum(queue.get(timeout=seconds + 120) for _ in workers)
    for worker in workers:
        worker.join()
    return {
        "raw_ecdsa_verify_per_s": raw_wall,
        "raw_ecdsa_verify_per_cpu_s": raw_cpu,
        "offline_verify_per_s": single_wall,
        "offline_verify_per_cpu_s": single_cpu,
        "offline_verify_per_s_all_cpus": parallel,
        "processes": processes,
        "load_average": os.getloadavg()[0],
    }


# --- the HTTP run -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(url: str, directory: Path, count: int) -> tuple[object, list[str]]:
    from ca.hierarchy import initialise
    from ca.runtime import CaRuntime
    from core.settings import Settings
    from identity import accounts
    from invitations import service, venues
    from invitations.keys import PassSigner
    from invitations.service import InvitationContext, InvitationInput
    from keystore.secretbox import SecretBox
    from store.migrate import upgrade

    settings = Settings(
        data_dir=directory / "var",
        database_url=url,
        master_key=secrets.token_urlsafe(36),
        base_url="https://pki.kyso.example.com",
    )
    runtime = CaRuntime.from_settings(settings)
    upgrade(runtime.db)
    from ca import service_signers

    with runtime.db.transaction() as session:
        initialise(session, runtime.ca, "ec-p384")
        venues.add(session, runtime.ca.clock, VENUE, "UBND Phường Bến Thành", desks=DESKS)
        accounts.create(
            session,
            runtime.ca.clock,
            username="gate",
            role="desk",
            display_name="Cổng",
            password=PASSWORD,
            venue=VENUE,
        )
        host = accounts.create(
            session,
            runtime.ca.clock,
            username="lan.pham",
            role="official",
            display_name="Phạm Thị Lan",
            password=PASSWORD,
        )
        delegated = service_signers.load(session, runtime.ca, "invitation-seal")
        seal = PassSigner(delegated.signer.sign, delegated.certificate, tuple(delegated.chain))
        context = InvitationContext(
            clock=runtime.ca.clock, box=SecretBox(settings.master_key_bytes()), seal=seal
        )
        service.register_seal(session, context)
        owner = service.Host(host.account.id, "lan.pham", "Phạm Thị Lan")
    now = dt.datetime.now(dt.UTC)
    payloads: list[str] = []
    while len(payloads) < count:
        with runtime.db.transaction() as session:
            for i in range(min(500, count - len(payloads))):
                created = service.create(
                    session,
                    context,
                    owner,
                    InvitationInput(
                        guest_name=f"Khách số {len(payloads) + i}",
                        venue=VENUE,
                        starts_at=now,
                        ends_at=now + dt.timedelta(hours=2),
                        meeting_title="Tiếp công dân",
                    ),
                )
                payloads.append(created.payload)  # type: ignore[arg-type]
        _progress(f"  {len(payloads)} passes")
    runtime.db.dispose()
    return settings, payloads


def _start(settings, directory: Path, workers: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        KYSO_DATA_DIR=str(settings.data_dir),
        KYSO_DATABASE_URL=settings.resolved_database_url,
        KYSO_MASTER_KEY=settings.master_key.get_secret_value(),
        KYSO_BASE_URL=settings.base_url,
    )
    log = directory / "kyso-serve.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=directory,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # Under load a worker can take long to import the application, and uvicorn restarts workers that miss
    # its health ping: wait until every worker has started and none died for a while.
    deadline, deaths_seen, since = time.monotonic() + 900, -1, 0.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kyso serve exited:\n{log.read_text(errors='replace')}")
        text = log.read_text(errors="replace")
        deaths = text.count("died")
        if text.count("Application startup complete") >= workers and _healthy(port):
            if deaths != deaths_seen:
                deaths_seen, since = deaths, time.monotonic()
            elif time.monotonic() - since > 15:
                break
        time.sleep(1)
    else:
        _stop(process)
        raise RuntimeError(f"kyso serve did not start:\n{log.read_text(errors='replace')}")
    return process, port


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
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


def _login(port: int) -> str:
    form = urllib.parse.urlencode({"username": "gate", "password": PASSWORD}).encode()
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/v1/auth/token", data=form, timeout=30
    ) as answer:
        return json.loads(answer.read())["access_token"]


def _request(port: int, bearer: str, payload: str, desk: str) -> bytes:
    body = json.dumps({"payload": payload, "desk": desk}).encode()
    return (
        f"POST /api/v1/checkins HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {bearer}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(
    port: int, requests: list[bytes], latencies: list[float], outcomes: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests:
            request = requests.pop()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = head.split(b" ", 2)[1]
            key = "error" if status != b"200" else "admit" if b'"decision":"admit"' in body else "deny"
            outcomes[key] = outcomes.get(key, 0) + 1
    finally:
        writer.close()


def _load(port: int, requests: list[bytes], clients: int) -> tuple[list[float], dict[str, int], float, float]:
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    queue = list(reversed(requests))
    before = os.times()

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_connection(port, queue, latencies, outcomes) for _ in range(clients)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    after = os.times()
    return latencies, outcomes, elapsed, (after.user - before.user) + (after.system - before.system)


def _count_checkins(url: str) -> int:
    from sqlalchemy import func, select

    from store.db import Database
    from store.models import CheckIn

    db = Database(url)
    with db.reading() as session:
        count = session.scalar(select(func.count()).select_from(CheckIn)) or 0
    db.dispose()
    return count


def http_run(args: argparse.Namespace) -> dict[str, object] | None:
    try:
        import psycopg
        from psycopg import sql

        from tests.support import postgres
    except ImportError as exc:
        _progress(f"skipping the HTTP run: tests/support/postgres.py is not importable ({exc})")
        return None
    if (reason := postgres.available()) is not None:
        _progress(f"skipping the HTTP run: {reason}")
        return None
    with postgres.postgres_url() as admin_url, tempfile.TemporaryDirectory(prefix="kyso-bench-") as tmp:
        directory = Path(tmp)
        url = postgres.fresh_database(admin_url, "kyso_bench_checkins")
        try:
            _progress(f"creating {args.invitations + args.warmup} passes …")
            settings, payloads = _prepare(url, directory, args.invitations + args.warmup)
            process, port = _start(settings, directory, args.workers)
            try:
                bearer = _login(port)
                requests = [_request(port, bearer, p, DESKS[i % len(DESKS)]) for i, p in enumerate(payloads)]
                _progress(f"warming up ({args.warmup} check-ins) …")
                _load(port, requests[: args.warmup], min(args.clients, args.warmup))
                _progress(
                    f"{args.invitations} check-ins, {args.clients} connections, {args.workers} workers …"
                )
                server_before, database_before = group_cpu(process.pid), command_cpu("postgres")
                latencies, outcomes, elapsed, generator_cpu = _load(
                    port, requests[args.warmup :], args.clients
                )
                server_cpu = group_cpu(process.pid) - server_before
                database_cpu = command_cpu("postgres") - database_before
            finally:
                _stop(process)
            stored = _count_checkins(url)
        finally:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier("kyso_bench_checkins")
            )
            with psycopg.connect(postgres.libpq_url(admin_url), autocommit=True) as connection:
                connection.execute(drop)
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    admitted = outcomes.get("admit", 0)
    if admitted != len(latencies) or stored != admitted + args.warmup:
        raise RuntimeError(f"expected every pass admitted once: {outcomes}, {stored} check-ins stored")
    return {
        "checkins": len(latencies),
        "outcomes": outcomes,
        "seconds": elapsed,
        "rate": len(latencies) / elapsed,
        "p50_ms": percentile(50),
        "p95_ms": percentile(95),
        "p99_ms": percentile(99),
        "max_ms": ordered[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "server_cpu_ms_per_checkin": server_cpu / len(latencies) * 1000,
        "generator_cpu_ms_per_checkin": generator_cpu / len(latencies) * 1000,
        "database_cpu_ms_per_checkin": database_cpu / len(latencies) * 1000,
        "workers": args.workers,
        "clients": args.clients,
        "stored_checkins": stored,
    }


# --- report -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench checkins", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--invitations", type=int, default=6000, help="passes checked in over HTTP (default 6000)"
    )
    parser.add_argument("--warmup", type=int, default=300, help="check-ins before the clock starts")
    parser.add_argument("--clients", type=int, default=16, help="keep-alive connections in flight")
    parser.add_argument("--workers", type=int, default=2, help="kyso serve worker processes")
    parser.add_argument("--offline-seconds", type=float, default=3.0)
    parser.add_argument("--skip-http", action="store_true", help="only the offline verification")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    cpus = os.cpu_count() or 1
    _progress("offline verification …")
    report: dict[str, object] = {"cpus": cpus, "offline": offline_rates(args.offline_seconds, cpus)}
    report["http"] = None if args.skip_http else http_run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    off = report["offline"]
    print(f"machine: {cpus} CPUs, load average {off['load_average']:.1f} when the offline run started")
    met = "met" if off["offline_verify_per_cpu_s"] >= 5000 else "not met"
    print(
        f"offline verification, one process       {off['offline_verify_per_s']:>7,.0f} /s wall  "
        f"{off['offline_verify_per_cpu_s']:>7,.0f} /s CPU   (target >= 5,000/s: {met}, by CPU time)"
    )
    print(
        f"offline verification, {off['processes']} processes       {off['offline_verify_per_s_all_cpus']:>7,.0f} /s wall"
    )
    print(
        f"peer: bare ECDSA P-256 verify, one proc {off['raw_ecdsa_verify_per_s']:>7,.0f} /s wall  "
        f"{off['raw_ecdsa_verify_per_cpu_s']:>7,.0f} /s CPU   (Kyso's whole check costs "
        f"{off['raw_ecdsa_verify_per_cpu_s'] / off['offline_verify_per_cpu_s']:.2f}x the bare signature check)"
    )
    http = report["http"]
    if http:
        print(
            f"HTTP check-ins, PostgreSQL, {http['workers']} workers, {http['clients']} connections: "
            f"{http['rate']:,.0f} /s over {http['checkins']} check-ins (target >= 1,000/s: "
            f"{'met' if http['rate'] >= 1000 else 'not met'})"
        )
        print(
            f"  latency p50 {http['p50_ms']:.1f} ms, p95 {http['p95_ms']:.1f} ms, p99 {http['p99_ms']:.1f} ms "
            f"(target < 50 ms: {'met' if http['p99_ms'] < 50 else 'not met'}), max {http['max_ms']:.1f} ms"
        )
        print(
            f"  CPU per check-in: kyso serve {http['server_cpu_ms_per_checkin']:.2f} ms, PostgreSQL "
            f"{http['database_cpu_ms_per_checkin']:.2f} ms, load generator "
            f"{http['generator_cpu_ms_per_checkin']:.2f} ms; {http['stored_checkins']} check-ins stored"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
