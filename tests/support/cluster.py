"""Real `kyso serve` processes for the scale-out and fault tests: several on one database, killable.

``start(instance, workers=N)`` runs `kyso serve --workers N` in its own process group on a free port and
returns when every worker has started and /healthz answers 200. ``Served.worker_pids()`` lists the
processes that answer requests (uvicorn's children with ``--workers`` > 1, the process itself otherwise),
so a test can SIGKILL one of them; ``stop`` ends the whole group.

Also here: HTTP helpers over ``httpx`` (``token`` logs in once — a bearer token is valid at every server,
``client``, ``is_problem``), ``poll`` (a condition with a deadline instead of a sleep),
``assert_audit_linear``, what the tests act on (a venue, passes, a signing credential, OCSP requests) and
``OwnPostgres``, a PostgreSQL server a test may stop and start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from tests.conftest import VENV_BIN, Instance, TestAccount, free_port

T = TypeVar("T")
START_TIMEOUT = 300.0  # a loaded 2-CPU machine imports the app slowly
# These tests log in and verify from one address far more often than a person would; the per-client
# limits (api.ratelimit) have tests of their own.
UNLIMITED = {"KYSO_LOGIN_RATE_PER_MINUTE": "100000", "KYSO_VERIFY_RATE_PER_MINUTE": "100000"}


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: int
    extra_env: dict[str, str] = field(default_factory=dict)

    def worker_pids(self) -> list[int]:
        if self.workers == 1:
            return [self.process.pid]
        return children_of(self.process.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc), oldest first; multiprocessing helpers excluded."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and stat[0] != "Z" and b"resource_tracker" not in cmdline:
            found.append((int(stat[19]), int(entry)))  # (start time, pid)
    return [p for _, p in sorted(found)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(
    instance: Instance, *, workers: int = 1, env: dict[str, str] | None = None, port: int | None = None
) -> Served:
    port = port or free_port()
    log = instance.settings.data_dir.parent / f"serve-{port}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "kyso"), "serve", "--port", str(port), "--workers", str(workers)],
        env={**instance.env(), **UNLIMITED, **(env or {})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=instance.settings.data_dir.parent,
        start_new_session=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process, log, workers, dict(env or {}))
    try:
        wait_ready(served)
    except BaseException:
        stop(served)
        raise
    return served


def wait_ready(served: Served, timeout: float = START_TIMEOUT) -> None:
    """Every worker started and /healthz answers 200."""

    def ready() -> bool:
        if not served.alive():
            raise RuntimeError(f"kyso serve exited:\n{served.log_text()}")
        started = served.log_text().count("Application startup complete")
        return started >= served.workers and healthz(served.url) == 200

    poll(ready, timeout, f"kyso serve at {served.url} did not become ready", interval=0.2)


def healthz(url: str) -> int | None:
    try:
        return httpx.get(url + "/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return None


def stop(served: Served) -> None:
    if served.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.process.pid, signal.SIGTERM)
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(served.process.pid, signal.SIGKILL)
        served.process.wait(timeout=20)


def kill_hard(served: Served) -> None:
    """SIGKILL every process of the server at once: no shutdown handler, no rollback from the client side."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(served.process.pid, signal.SIGKILL)
    served.process.wait(timeout=20)


def poll(condition: Callable[[], T], timeout: float, message: str, interval: float = 0.05) -> T:
    """``condition()`` once it is truthy; AssertionError with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


def login(url: str, account: TestAccount, code: str | None = None) -> httpx.Response:
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        form["totp"] = code or account.code()
    return httpx.post(url + "/api/v1/auth/token", data=form, timeout=60)


def token(url: str, account: TestAccount, code: str | None = None) -> str:
    """A bearer token for ``account`` (its one-time code is used up: log in once, use it at every server)."""
    answer = login(url, account, code)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def client(url: str, bearer: str, timeout: float = 120) -> httpx.Client:
    """An httpx client on ``url`` sending ``bearer``."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {bearer}"}, timeout=timeout)


def is_problem(answer: httpx.Response, *statuses: int) -> bool:
    return answer.status_code in statuses and answer.headers.get("content-type", "").startswith(
        "application/problem+json"
    )


def assert_audit_linear(instance: Instance) -> int:
    """`kyso audit verify` exits 0 and the entries are numbered 1..n without a gap; returns n."""
    import json

    from sqlalchemy import select

    from store.models import AuditEntry
    from tests.conftest import kyso

    checked = kyso(instance, "audit", "verify", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] and report["entries"] == report["head_seq"], report
    with instance.db.reading() as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert seqs == list(range(1, len(seqs) + 1)), "the audit sequence has a gap or a duplicate"
    assert len(seqs) == report["entries"]
    return len(seqs)


# --- what the concurrency and fault tests act on ------------------------------------------------------
VENUE = "UBND-BT"
DESKS = [f"gate-{n}" for n in range(1, 9)]


def add_venue(instance: Instance) -> None:
    from invitations import venues

    with instance.db.transaction() as session:
        venues.add(session, instance.ca.clock, VENUE, "UBND Phường Bến Thành", desks=DESKS)


def make_passes(instance: Instance, count: int, *, host: TestAccount) -> list[str]:
    """``count`` single-entry passes at ``VENUE``, valid now; returns their QR texts."""
    import datetime as dt

    from core.clock import VIETNAM
    from invitations import service
    from invitations.service import InvitationInput
    from tests.support.invitations import instance_context

    context = instance_context(instance)
    now = dt.datetime.now(VIETNAM)
    payloads: list[str] = []
    with instance.db.transaction() as session:
        owner = service.host_of(session, host.username)
        for n in range(count):
            created = service.create(session, context, owner, InvitationInput(
                guest_name=f"Khách số {n}", venue=VENUE, starts_at=now, ends_at=now + dt.timedelta(hours=2),
            ))  # fmt: skip
            payloads.append(created.payload)  # type: ignore[arg-type]
    return payloads


def bind_signing_credential(instance: Instance, account: TestAccount) -> str:
    """A certificate in custody naming ``account``'s CCCD, bound to it for signing; returns its serial."""
    from identity import accounts
    from signing import credentials
    from tests.support.signing import issue_to

    with instance.db.reading() as session:
        cccd = accounts.get(session, account.username).cccd
    assert cccd, (
        f"give {account.username} a CCCD (make_account(..., cccd=new_cccd())): it holds the certificate"
    )
    serial = issue_to(instance, cccd, "official")
    with instance.db.transaction() as session:
        row = accounts.get(session, account.username)
        credentials.bind(session, account=row, serial=serial, now=instance.ca.clock.now())
    return serial


def checkin_request(payload: str, desk: str) -> dict[str, str]:
    return {"payload": payload, "desk": desk}


# --- a PostgreSQL server of the test's own, to stop and start under load -------------------------------
class OwnPostgres:
    """A throwaway cluster (tests/support/postgres.py) that a test may stop and start again on its port."""

    def __init__(self) -> None:
        from tests.support import postgres

        tools = postgres._tool_paths()
        if tools is None or postgres._local_reason() is not None:
            raise RuntimeError(f"cannot start PostgreSQL here: {postgres._local_reason()}")
        self._options = postgres._SERVER_OPTIONS
        self.server = postgres._Cluster(tools)
        self.server.initdb()
        self.server.start()
        self.server.wait_ready()
        self.server.createdb()

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """A fast shutdown: sessions are disconnected, in-flight transactions roll back."""
        self.server.run("pg_ctl", "-D", str(self.server.data), "-m", "fast", "-w", "stop")

    def start(self) -> None:
        options = f"-p {self.server.port} -k {self.server.root} {self._options}"
        self.server.run(
            "pg_ctl", "-D", str(self.server.data), "-o", options, "-l", str(self.server.log), "-w", "start"
        )
        self.server.wait_ready()

    def remove(self) -> None:
        self.server.stop()
        self.server.remove()


def ocsp_request_for(instance: Instance, serial: str, *, nonce: bool = False) -> tuple[str, bytes]:
    """(authority id, DER OCSP request) for a certificate the instance issued."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from ca import lifecycle

    with instance.db.reading() as session:
        info = lifecycle.show(instance.ca, session, serial)
        authority = "citizen" if info.profile == "citizen" else "government"
        issuer = instance.ca.chain(session, authority)[0]
    certificate = x509.load_pem_x509_certificate(info.certificate_pem.encode())
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return authority, builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_status(answer: httpx.Response) -> str:
    """The OCSP responseStatus of an HTTP answer (e.g. SUCCESSFUL, TRY_LATER, INTERNAL_ERROR)."""
    from cryptography.x509 import ocsp

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(answer.content).response_status.name
