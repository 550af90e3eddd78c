"""The mixed load: check-ins, verifications, OCSP and signing at once against `kyso serve --workers 2` on
PostgreSQL for several minutes; throughput and p50/p99 per kind, errors, and each worker's memory over
time.

Setup (in process, on a throwaway PostgreSQL — the test suite's): the CA hierarchy, a venue with desks
and a desk account, ``--passes`` single-entry invitations, ``--officials`` officials each with a TOTP
secret and a signing certificate in custody, 32 citizen certificates for OCSP, and one PDF signed B-LT
over HTTP for the verifications. The per-client login and verify limits are lifted (every request comes
from 127.0.0.1).

Load (one asyncio client, closed loops — each task sends its next request when the answer came):
- check-in: ``POST /api/v1/checkins`` with the next pass (a real decision each time);
- verify:   ``POST /api/v1/verify`` with the signed PDF (full validation: chain, revocation, timestamps);
- ocsp:     ``POST /ocsp/citizen`` for one of the citizen certificates, without a nonce (what PDF readers
            and caches send);
- sign:     an official confirms ``--batch`` PDFs with their next one-time code (``POST
            /api/v1/signing/authorizations``), then signs them B-LT (``POST /api/v1/signing/sign``). A code is
            accepted once per 30 s step and account, so each official confirms about twice a minute.

An error is any answer other than the expected one (check-in 200 admit or deny, verify 200 TOTAL-PASSED,
OCSP 200 successful, 201/200 for signing) or a failed connection. Every few seconds the resident memory
of each worker is sampled. Afterwards the database must hold exactly one check-in per admit seen.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.http_load import group_cpu

VENV_BIN = Path(sys.executable).parent
VENUE, DESKS = "UBND-BT", [f"gate-{n}" for n in range(1, 9)]
PASSWORD = "bench password, long enough"
DATABASE = "kyso_bench_mixed"
UNLIMITED = {"KYSO_LOGIN_RATE_PER_MINUTE": "100000", "KYSO_VERIFY_RATE_PER_MINUTE": "100000"}
STEP = 30  # TOTP step, seconds


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Official:
    username: str
    secret: str
    last_step: int = 0
    bearer: str = ""

    def next_code(self, now: float) -> str | None:
        """The code of the next unused step that is valid now (±1 step), or None until time moves on. Never
        the previous step's: the step may turn while the request travels, and that code would be refused."""
        import pyotp

        current = int(now) // STEP
        step = max(self.last_step + 1, current)
        if step > current + 1:
            return None
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * STEP)


@dataclass
class World:
    settings: object
    url: str  # the database
    payloads: list[str]
    officials: list[Official]
    ocsp_requests: list[bytes]
    desk_bearer: str = ""
    signed_pdf: bytes = b""


# --- setup --------------------------------------------------------------------------------------------
def prepare(url: str, directory: Path, passes: int, officials: int) -> World:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from ca.hierarchy import initialise
    from ca.issuance import IssueRequest
    from ca.runtime import CaRuntime
    from ca.subjects import SubjectFields
    from core.settings import Settings
    from identity import accounts, totp
    from invitations import venues
    from keystore.secretbox import SecretBox
    from signing import credentials
    from store.migrate import upgrade

    settings = Settings(data_dir=directory / "var", database_url=url, master_key=secrets.token_urlsafe(36),
                        base_url="https://pki.kyso.example.com")  # fmt: skip
    runtime = CaRuntime.from_settings(settings)
    upgrade(runtime.db)
    clock, box = runtime.ca.clock, SecretBox(settings.master_key_bytes())
    with runtime.db.transaction() as session:
        initialise(session, runtime.ca, "ec-p384")
        venues.add(session, clock, VENUE, "UBND Phường Bến Thành", desks=DESKS)
        accounts.create(session, clock, username="gate", role="desk", display_name="Cổng", password=PASSWORD,
                        venue=VENUE)  # fmt: skip
    _progress(f"  {officials} officials with certificates in custody …")
    people: list[Official] = []
    for n in range(officials):
        subject = SubjectFields(surname="Trần", given_name=f"Bình {n}", cccd=f"0791850{n:05d}",
                                organization="UBND Phường Bến Thành", title="Chuyên viên")  # fmt: skip
        with runtime.db.transaction() as session:
            created = accounts.create(session, clock, username=f"official{n}", role="official",
                                      display_name=f"Trần Bình {n}", password=PASSWORD,
                                      cccd=subject.cccd)  # fmt: skip
            secret = totp.enrol(session, box, created.account).secret
            issued = runtime.ca.issue(
                session, IssueRequest(profile="official", subject=subject, keygen="ec-p256")
            )
            credentials.bind(
                session, account=created.account, serial=issued.certificate.serial, now=clock.now()
            )
        people.append(Official(f"official{n}", secret))
    _progress("  32 citizen certificates for OCSP …")
    requests: list[bytes] = []
    with runtime.db.transaction() as session:
        issuer = runtime.ca.chain(session, "citizen")[0]
        for n in range(32):
            subject = SubjectFields(surname="Nguyễn", given_name=f"Văn {n}", cccd=f"0792030{n:05d}")
            issued = runtime.ca.issue(
                session, IssueRequest(profile="citizen", subject=subject, keygen="ec-p256")
            )
            certificate = x509.load_pem_x509_certificate(issued.certificate.certificate_pem.encode())
            request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
            requests.append(request.public_bytes(serialization.Encoding.DER))
    payloads = _passes(runtime, box, passes)
    runtime.db.dispose()
    return World(settings, url, payloads, people, requests)


def _passes(runtime, box, count: int) -> list[str]:
    from ca import service_signers
    from invitations import service
    from invitations.keys import PassSigner
    from invitations.service import InvitationContext, InvitationInput

    with runtime.db.transaction() as session:
        delegated = service_signers.load(session, runtime.ca, "invitation-seal")
        seal = PassSigner(delegated.signer.sign, delegated.certificate, tuple(delegated.chain))
        context = InvitationContext(clock=runtime.ca.clock, box=box, seal=seal)
        service.register_seal(session, context)
        host = service.host_of(session, "official0")
    now = dt.datetime.now(dt.UTC)
    payloads: list[str] = []
    while len(payloads) < count:
        with runtime.db.transaction() as session:
            for _ in range(min(500, count - len(payloads))):
                created = service.create(session, context, host, InvitationInput(
                    guest_name=f"Khách số {len(payloads)}", venue=VENUE, starts_at=now,
                    ends_at=now + dt.timedelta(hours=4), meeting_title="Tiếp công dân",
                ))  # fmt: skip
                payloads.append(created.payload)  # type: ignore[arg-type]
        _progress(f"  {len(payloads)} passes")
    return payloads


# --- the server ---------------------------------------------------------------------------------------
def start(world: World, directory: Path, workers: int) -> tuple[subprocess.Popen, str]:
    from bench.checkins import _free_port, _healthy, _stop

    port = _free_port()
    settings = world.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        KYSO_DATA_DIR=str(settings.data_dir),  # type: ignore[attr-defined]
        KYSO_DATABASE_URL=world.url,
        KYSO_MASTER_KEY=settings.master_key.get_secret_value(),  # type: ignore[attr-defined]
        KYSO_BASE_URL=settings.base_url,  # type: ignore[attr-defined]
        **UNLIMITED,
    )
    log = directory / "kyso-serve.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=directory, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kyso serve exited:\n{log.read_text(errors='replace')[-3000:]}")
        if log.read_text(errors="replace").count("Application startup complete") >= workers and _healthy(
            port
        ):
            return process, f"http://127.0.0.1:{port}"
        time.sleep(0.5)
    _stop(process)
    raise RuntimeError("kyso serve did not start")


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- the load -----------------------------------------------------------------------------------------
@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    admits: int = 0
    denies: int = 0
    documents_signed: int = 0

    def ok(self, kind: str, started: float) -> None:
        self.latencies[kind].append(time.perf_counter() - started)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 8:
            self.samples.append(f"{kind}: {what[:300]}")


async def _checkins(
    client: httpx.AsyncClient, world: World, tally: Tally, end: float, offset: int, step: int
) -> None:
    headers = {"Authorization": f"Bearer {world.desk_bearer}"}
    index = offset
    while time.monotonic() < end:
        payload = world.payloads[index % len(world.payloads)]
        desk = DESKS[index % len(DESKS)]
        index += step
        started = time.perf_counter()
        try:
            answer = await client.post(
                "/api/v1/checkins", json={"payload": payload, "desk": desk}, headers=headers
            )
        except httpx.HTTPError as exc:
            tally.error("check-in", repr(exc))
            continue
        if answer.status_code != 200:
            tally.error("check-in", f"{answer.status_code} {answer.text}")
            continue
        tally.ok("check-in", started)
        if answer.json()["decision"] == "admit":
            tally.admits += 1
        else:
            tally.denies += 1


async def _verifications(client: httpx.AsyncClient, world: World, tally: Tally, end: float) -> None:
    files = {"document": ("quyet-dinh.pdf", world.signed_pdf, "application/pdf")}
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            answer = await client.post("/api/v1/verify", files=files)
        except httpx.HTTPError as exc:
            tally.error("verify", repr(exc))
            continue
        verdicts = (
            [s["indication"] for s in answer.json().get("signatures", [])]
            if answer.status_code == 200
            else []
        )
        if verdicts and set(verdicts) == {"TOTAL-PASSED"}:
            tally.ok("verify", started)
        else:
            tally.error("verify", f"{answer.status_code} {answer.text}")


async def _ocsp(client: httpx.AsyncClient, world: World, tally: Tally, end: float, offset: int) -> None:
    from cryptography.x509 import ocsp

    index = offset
    headers = {"Content-Type": "application/ocsp-request"}
    while time.monotonic() < end:
        request = world.ocsp_requests[index % len(world.ocsp_requests)]
        index += 1
        started = time.perf_counter()
        try:
            answer = await client.post("/ocsp/citizen", content=request, headers=headers)
            status = ocsp.load_der_ocsp_response(answer.content).response_status.name
        except (httpx.HTTPError, ValueError) as exc:
            tally.error("ocsp", repr(exc))
            continue
        if answer.status_code == 200 and status == "SUCCESSFUL":
            tally.ok("ocsp", started)
        else:
            tally.error("ocsp", f"{answer.status_code} {status}")


async def _signing(client: httpx.AsyncClient, world: World, tally: Tally, end: float, batch: int,
                   pool: asyncio.Queue[Official]) -> None:  # fmt: skip
    from tests.support.pdfs import sample_pdf

    while time.monotonic() < end:
        official = await pool.get()
        code = official.next_code(time.time())
        if code is None:  # this official's next code is not valid yet: let the others go first
            await pool.put(official)
            await asyncio.sleep(0.2)
            continue
        headers = {"Authorization": f"Bearer {official.bearer}"}
        pdfs = [sample_pdf(1, title=f"Quyet dinh {secrets.token_hex(4)}/QD-UBND") for _ in range(batch)]
        body = {"documents": [{"sha256": hashlib.sha256(p).hexdigest()} for p in pdfs], "code": code}
        try:
            started = time.perf_counter()
            granted = await client.post("/api/v1/signing/authorizations", json=body, headers=headers)
            if granted.status_code != 201:
                tally.error("authorise", f"{granted.status_code} {granted.text}")
                continue
            tally.ok("authorise", started)
            files = [("documents", (f"qd-{n}.pdf", p, "application/pdf")) for n, p in enumerate(pdfs)]
            form = {"authorization_id": granted.json()["id"], "level": "b-lt", "appearance": "official"}
            started = time.perf_counter()
            signed = await client.post("/api/v1/signing/sign", files=files, data=form, headers=headers)
            if signed.status_code != 200:
                tally.error("sign", f"{signed.status_code} {signed.text}")
                continue
            tally.ok("sign", started)
            tally.documents_signed += batch
        except httpx.HTTPError as exc:
            tally.error("sign", repr(exc))
        finally:
            await pool.put(official)


async def _memory(supervisor: int, end: float, every: float, series: dict[int, list[float]]) -> None:
    from tests.support.cluster import children_of

    while True:
        for pid in children_of(supervisor):
            series.setdefault(pid, []).append(rss_mib(pid))
        if time.monotonic() >= end:
            return
        await asyncio.sleep(min(every, max(0.0, end - time.monotonic())))


async def _connected_clients(base: str, count: int) -> list[httpx.AsyncClient]:
    """One keep-alive connection per load task, opened one after another. Workers share the listening
    socket and an event loop accepts every connection waiting at once, so connections opened in a burst
    all land on one worker; opened apart, each goes to whichever worker is idle."""
    clients = []
    for _ in range(count):
        client = httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=1))
        await client.get("/healthz")
        clients.append(client)
        await asyncio.sleep(0.05)
    return clients


async def run_load(
    base: str, world: World, args: argparse.Namespace, supervisor: int
) -> tuple[Tally, dict[int, list[float]], float, dict[int, float]]:
    tally, series = Tally(), {}
    kinds = ["check-in"] * args.checkin_clients + ["verify"] * args.verify_clients
    kinds += ["ocsp"] * args.ocsp_clients + ["sign"] * args.sign_clients
    clients = await _connected_clients(base, len(kinds))
    try:
        pool: asyncio.Queue[Official] = asyncio.Queue()
        for official in world.officials:
            pool.put_nowait(official)
        from tests.support.cluster import children_of, cpu_seconds

        workers = children_of(supervisor)
        cpu_before = {pid: cpu_seconds(pid) for pid in workers}
        started = time.perf_counter()
        end = time.monotonic() + args.seconds
        tasks = [_memory(supervisor, end, args.memory_every, series)]
        for n, (kind, client) in enumerate(zip(kinds, clients, strict=True)):
            if kind == "check-in":
                tasks.append(_checkins(client, world, tally, end, n, args.checkin_clients))
            elif kind == "verify":
                tasks.append(_verifications(client, world, tally, end))
            elif kind == "ocsp":
                tasks.append(_ocsp(client, world, tally, end, n * 7))
            else:
                tasks.append(_signing(client, world, tally, end, args.batch, pool))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in workers}
        return tally, series, elapsed, cpu
    finally:
        for client in clients:
            await client.aclose()


def _login(base: str, username: str, code: str | None) -> str:
    form = {"username": username, "password": PASSWORD}
    if code:
        form["totp"] = code
    answer = httpx.post(f"{base}/api/v1/auth/token", data=form, timeout=60)
    answer.raise_for_status()
    return answer.json()["access_token"]


def _signed_pdf(base: str, official: Official) -> bytes:
    from tests.support.pdfs import sample_pdf

    pdf = sample_pdf(2, title="Quyet dinh 123/QD-UBND")
    headers = {"Authorization": f"Bearer {official.bearer}"}
    body = {
        "documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}],
        "code": official.next_code(time.time()),
    }
    granted = httpx.post(f"{base}/api/v1/signing/authorizations", json=body, headers=headers, timeout=60)
    granted.raise_for_status()
    form = {"authorization_id": granted.json()["id"], "level": "b-lt", "appearance": "official"}
    signed = httpx.post(f"{base}/api/v1/signing/sign", files={"documents": ("qd.pdf", pdf, "application/pdf")},
                        data=form, headers=headers, timeout=120)  # fmt: skip
    signed.raise_for_status()
    return signed.content


def _count_checkins(url: str) -> int:
    from sqlalchemy import func, select

    from store.db import Database
    from store.models import CheckIn

    db = Database(url)
    with db.reading() as session:
        count = session.scalar(select(func.count()).select_from(CheckIn)) or 0
    db.dispose()
    return count


def measure(args: argparse.Namespace) -> dict[str, object]:
    import psycopg
    from psycopg import sql

    from bench.checkins import _stop
    from tests.support import postgres

    if (reason := postgres.available()) is not None:
        raise SystemExit(f"the mixed benchmark needs PostgreSQL: {reason}")
    with postgres.postgres_url() as admin_url, tempfile.TemporaryDirectory(prefix="kyso-mixed-") as tmp:
        directory = Path(tmp)
        url = postgres.fresh_database(admin_url, DATABASE)
        try:
            _progress("preparing …")
            world = prepare(url, directory, args.passes, args.officials)
            process, base = start(world, directory, args.workers)
            try:
                _progress("logging in …")
                world.desk_bearer = _login(base, "gate", None)
                for official in world.officials:
                    official.bearer = _login(base, official.username, official.next_code(time.time()))
                world.signed_pdf = _signed_pdf(base, world.officials[0])
                load_before = os.getloadavg()
                _progress(f"mixed load for {args.seconds:.0f} s, {args.workers} workers …")
                server_before, client_before = group_cpu(process.pid), os.times()
                tally, series, elapsed, worker_cpu = asyncio.run(run_load(base, world, args, process.pid))
                server_cpu = group_cpu(process.pid) - server_before
                client_after = os.times()
                load_after = os.getloadavg()
            finally:
                _stop(process)
            stored = _count_checkins(url)
        finally:
            with psycopg.connect(postgres.libpq_url(admin_url), autocommit=True) as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
                )
    client_cpu = (client_after.user - client_before.user) + (client_after.system - client_before.system)
    return {
        "seconds": elapsed,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "kinds": {
            kind: _summary(values, elapsed, tally.errors.get(kind, 0))
            for kind, values in tally.latencies.items()
        }
        | {kind: _summary([], elapsed, n) for kind, n in tally.errors.items() if kind not in tally.latencies},
        "errors": sum(tally.errors.values()),
        "error_samples": tally.samples,
        "admits": tally.admits,
        "denies": tally.denies,
        "stored_checkins": stored,
        "documents_signed": tally.documents_signed,
        "server_cpu_s": server_cpu,
        "worker_cpu_s": {str(pid): seconds for pid, seconds in worker_cpu.items()},
        "client_cpu_s": client_cpu,
        "rss_mib": {
            str(pid): {
                "first": v[0],
                "last": v[-1],
                "max": max(v),
                "samples": len(v),
                "quarters": [v[min(len(v) - 1, len(v) * q // 4)] for q in range(5)],
            }
            for pid, v in series.items()
        },
    }


def _summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, float]:
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000 if ordered else float("nan")

    return {
        "count": len(ordered),
        "per_s": len(ordered) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "mean_ms": statistics.fmean(ordered) * 1000 if ordered else float("nan"),
        "errors": errors,
    }


def report(result: dict[str, object]) -> None:
    before, after = result["load_before"], result["load_after"]
    print(f"mixed load: kyso serve --workers {result['workers']} on PostgreSQL, {result['seconds']:.0f} s, "
          f"{result['cpus']} CPUs; load average {before[0]:.1f} before, {after[0]:.1f} at the end")  # fmt: skip
    print(f"{'kind':<10} {'answers':>8} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for kind in ("check-in", "verify", "ocsp", "authorise", "sign"):
        row = result["kinds"].get(kind)  # type: ignore[union-attr]
        if row:
            print(f"{kind:<10} {row['count']:>8} {row['per_s']:>8.1f} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} "
                  f"{row['errors']:>7}")  # fmt: skip
    print(f"check-ins: {result['admits']} admitted, {result['denies']} denied (passes reused), "
          f"{result['stored_checkins']} stored; documents signed: {result['documents_signed']}")  # fmt: skip
    print(f"errors: {result['errors']} (target 0)")
    for sample in result["error_samples"]:  # type: ignore[union-attr]
        print(f"  {sample}")
    print(f"CPU: kyso serve {result['server_cpu_s']:.0f} s, this client {result['client_cpu_s']:.0f} s")
    shares = ", ".join(f"{pid}: {s:.0f} s" for pid, s in result["worker_cpu_s"].items())  # type: ignore[union-attr]
    print(f"CPU per worker: {shares}")
    for pid, rss in result["rss_mib"].items():  # type: ignore[union-attr]
        timeline = " → ".join(f"{m:.0f}" for m in rss["quarters"])
        print(f"worker {pid} RSS MiB: first {rss['first']:.0f}, last {rss['last']:.0f}, max {rss['max']:.0f} "
              f"({rss['samples']} samples; at 0, ¼, ½, ¾ and the end: {timeline})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench mixed", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180, help="how long the load runs (default 180)")
    parser.add_argument("--workers", type=int, default=2, help="kyso serve worker processes (default 2)")
    parser.add_argument("--passes", type=int, default=6000, help="single-entry passes prepared (then reused)")
    parser.add_argument(
        "--officials", type=int, default=40, help="officials who sign (one code per 30 s each)"
    )
    parser.add_argument("--batch", type=int, default=4, help="documents per signing authorisation")
    parser.add_argument("--checkin-clients", type=int, default=8)
    parser.add_argument("--verify-clients", type=int, default=2)
    parser.add_argument("--ocsp-clients", type=int, default=4)
    parser.add_argument("--sign-clients", type=int, default=2)
    parser.add_argument("--memory-every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 1 if result["errors"] or result["stored_checkins"] != result["admits"] else 0


if __name__ == "__main__":
    sys.exit(main())
