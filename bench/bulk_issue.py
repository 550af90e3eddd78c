"""Bulk issuance throughput, lint on every certificate, beside the raw rate of cryptography's builder.

What is timed, per database (a fresh data directory and schema each time, an ec-p384 hierarchy, a CSV of
distinct citizens whose keys are EC P-256 generated in custody):

* ``bulk.start_run`` + draining ``bulk.run(…, workers=N)``, exactly what ``kyso ca bulk-issue`` does;
  afterwards the run must account for every row as issued, else the benchmark fails.

Beside it, in the same process and run:

* the peer: cryptography's ``CertificateBuilder`` alone (P-256 subject key generated per certificate,
  signed with a P-384 key and SHA-384, the same extensions a citizen certificate carries);
* builder + pkilint, one process, no database, on a sample: where the time goes;
* pkilint alone over a pool of N processes on the same sample: the ceiling parallel lint allows here;
* workers=1 on SQLite: what the lint pool buys;
* a diagnostic run with lint stubbed out (not a valid issuance): what keys, signing and storage cost.

``python -m bench bulk_issue --help`` for the options.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.metadata
import json
import os
import platform
import random
import resource
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from psycopg import sql as psql
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from ca import bulk
from ca.hierarchy import initialise
from ca.lint import CertificateLinter, Finding, blocking
from ca.runtime import CaRuntime
from core.settings import Settings
from core.vn_ids import PROVINCE_CODES
from store.migrate import upgrade
from store.models import Certificate

TARGET = 300.0  # certificates per second, with lint, on this 2-core machine (the issue's goal)
BASE_URL = "https://pki.kyso.example.com"  # public-looking, so pkilint's ETSI checks run fully strict
PKI_BASE_URL = "http://pki.kyso.example.com"  # what the service derives from BASE_URL for AIA/CRLDP
LINT_TYPE = "NCP_NATURAL_PERSON_CERTIFICATE"
CITIZEN_POLICIES = ("0.4.0.2042.1.1", "1.3.6.1.4.1.32473.1.1.1")
DATABASES = ("sqlite", "postgresql")
MAX_ROWS = 1_000_000  # the 6 per-row digits of a CCCD number

# -- synthetic citizens ----------------------------------------------------------------------------

WARDS = {
    "079": ["Phường Bến Thành", "Phường Sài Gòn", "Phường Tân Định", "Phường Chợ Lớn"],
    "001": ["Phường Hoàn Kiếm", "Phường Ba Đình", "Phường Cửa Nam"],
    "048": ["Phường Hải Châu", "Phường Thanh Khê", "Phường Sơn Trà"],
    "031": ["Phường Lê Chân", "Phường Hồng Bàng", "Phường Ngô Quyền"],
    "092": ["Phường Ninh Kiều", "Phường Cái Khế", "Phường Tân An"],
}
SURNAMES = [
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Trương", "Đinh", "Lâm", "Châu",
]  # fmt: skip
MIDDLE_NAMES = {
    "male": ["Văn", "Đức", "Minh", "Quốc", "Hữu", "Thành", "Gia", "Công"],
    "female": ["Thị", "Ngọc", "Thu", "Thanh", "Mỹ", "Bích", "Kim", "Hồng"],
}
GIVEN_NAMES = {
    "male": ["An", "Bình", "Cường", "Dũng", "Hùng", "Khánh", "Long", "Phúc", "Quân", "Sơn", "Thắng", "Việt"],
    "female": ["Anh", "Chi", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Ngọc", "Nhung", "Trang", "Yến"],
}


def citizens(rows: int, seed: int = 2025) -> list[dict[str, str]]:
    """``rows`` distinct, valid citizens: CCCD ppp + century/sex digit + yy + 6 digits unique per row."""
    rng = random.Random(seed)
    uniques = rng.sample(range(MAX_ROWS), rows)
    people = []
    for unique in uniques:
        province = rng.choice(sorted(WARDS))
        century_sex = rng.randrange(4)  # 0/1: born 19xx male/female, 2/3: 20xx male/female
        year = rng.randrange(40, 100) if century_sex < 2 else rng.randrange(0, 8)
        sex = "male" if century_sex % 2 == 0 else "female"
        people.append(
            {
                "cccd": f"{province}{century_sex}{year:02d}{unique:06d}",
                "surname": rng.choice(SURNAMES),
                "given_name": f"{rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}",
                "province": f"Thành phố {PROVINCE_CODES[province]}",
                "locality": rng.choice(WARDS[province]),
            }
        )
    return people


def write_csv(path: Path, people: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["cccd", "surname", "given_name", "province", "locality"])
        writer.writeheader()
        writer.writerows(people)


# -- results ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    certificates: int
    seconds: float  # wall clock
    kind: str  # peer | diagnostic | bulk
    database: str | None = None
    workers: int | None = None
    cpu_seconds: float | None = None  # user + system, every process doing the work (None: not measured)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.certificates / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ms_per_cert(self) -> float:
        return 1000 * self.seconds / self.certificates

    @property
    def cpu_ms_per_cert(self) -> float | None:
        return None if self.cpu_seconds is None else 1000 * self.cpu_seconds / self.certificates

    def ceiling(self, cpus: int) -> float | None:
        """The rate this much CPU work per certificate allows if it kept ``cpus`` cores busy, nothing else."""
        cpu_ms = self.cpu_ms_per_cert
        return None if not cpu_ms else cpus * 1000 / cpu_ms


class BenchFailure(Exception):
    pass


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_seconds() -> tuple[float, float]:
    """CPU time (user + system) of this process, and of its children that have ended (the lint pools)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while ours wanted it (all CPUs; 0 off Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def _process_tree_cpu(root: int) -> float | None:
    """CPU seconds of a process, its ended children, and its live children (a PostgreSQL postmaster)."""
    fields = _proc_stat(root)
    if fields is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            child = _proc_stat(int(entry.name))
            if child is not None and child[1] == str(root):
                total += int(child[11]) + int(child[12])
    return total / ticks


# -- the peer: cryptography's builder alone --------------------------------------------------------


@dataclass(frozen=True)
class RawIssuer:
    key: ec.EllipticCurvePrivateKey
    name: x509.Name
    key_identifier: bytes


def raw_issuer() -> RawIssuer:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Kyso Test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Kyso Citizen CA"),
        ]
    )
    return RawIssuer(key, name, x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest)


def raw_certificate(issuer: RawIssuer, person: dict[str, str], now: dt.datetime) -> bytes:
    """One citizen certificate straight from cryptography: new P-256 key, P-384/SHA-384 signature."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, person["province"]),
            x509.NameAttribute(NameOID.LOCALITY_NAME, person["locality"]),
            x509.NameAttribute(NameOID.SURNAME, person["surname"]),
            x509.NameAttribute(NameOID.GIVEN_NAME, person["given_name"]),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PNOVN-{person['cccd']}"),
            x509.NameAttribute(NameOID.USER_ID, f"CCCD:{person['cccd']}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{person['surname']} {person['given_name']}"),
        ]
    )
    usage = dict.fromkeys(
        (
            "digital_signature",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.KeyUsage(content_commitment=True, **usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in CITIZEN_POLICIES]
            ),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier(issuer.key_identifier, None, None), critical=False)
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(f"{PKI_BASE_URL}/ocsp/citizen"),
                    ),
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(f"{PKI_BASE_URL}/pki/ca/citizen.cer"),
                    ),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{PKI_BASE_URL}/pki/crl/citizen.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        )
    )
    return builder.sign(issuer.key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)


def bench_raw_builder(people: list[dict[str, str]]) -> Scenario:
    issuer = raw_issuer()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    raw_certificate(issuer, people[0], now)  # warm-up: first-call costs are not throughput
    cpu = time.process_time()
    started = time.perf_counter()
    for person in people:
        raw_certificate(issuer, person, now)
    elapsed = time.perf_counter() - started
    return Scenario(
        "raw_builder",
        "raw cryptography builder (peer)",
        len(people),
        elapsed,
        "peer",
        workers=1,
        cpu_seconds=time.process_time() - cpu,
    )


def bench_builder_and_lint(sample: list[dict[str, str]]) -> tuple[Scenario, list[Finding]]:
    """Build, sign and lint each certificate in this process; also times the two halves apart."""
    issuer = raw_issuer()
    linter = CertificateLinter()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    findings = linter.lint(raw_certificate(issuer, sample[0], now), LINT_TYPE)  # builds the validators
    building = linting = 0.0
    cpu = time.process_time()
    for person in sample:
        t0 = time.perf_counter()
        der = raw_certificate(issuer, person, now)
        t1 = time.perf_counter()
        linter.lint(der, LINT_TYPE)
        t2 = time.perf_counter()
        building += t1 - t0
        linting += t2 - t1
    scenario = Scenario(
        "builder_lint",
        "builder + pkilint, no DB",
        len(sample),
        building + linting,
        "diagnostic",
        workers=1,
        cpu_seconds=time.process_time() - cpu,
        extra={
            "build_sign_ms_per_cert": round(1000 * building / len(sample), 3),
            "lint_ms_per_cert": round(1000 * linting / len(sample), 3),
        },
    )
    return scenario, findings


_pool_linter: CertificateLinter | None = None


def _pool_init(warm_up: bytes) -> None:
    global _pool_linter
    _pool_linter = CertificateLinter()
    _pool_linter.lint(warm_up, LINT_TYPE)


def _pool_lint(der: bytes) -> float:
    """Lint one certificate in a worker; returns the CPU seconds it took."""
    assert _pool_linter is not None
    cpu = time.process_time()
    _pool_linter.lint(der, LINT_TYPE)
    return time.process_time() - cpu


def _pool_ready(_: int) -> int:
    time.sleep(0.2)  # long enough that every worker takes one, so every initializer has run
    return os.getpid()


def bench_parallel_lint(sample: list[dict[str, str]], workers: int) -> Scenario:
    """pkilint alone over a pool of processes, warmed up: the most parallel lint can give here."""
    issuer = raw_issuer()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ders = [raw_certificate(issuer, person, now) for person in sample]
    with ProcessPoolExecutor(max_workers=workers, initializer=_pool_init, initargs=(ders[0],)) as pool:
        list(pool.map(_pool_ready, range(workers * 2)))
        started = time.perf_counter()
        cpu = sum(pool.map(_pool_lint, ders, chunksize=max(1, len(ders) // (workers * 4))))
        elapsed = time.perf_counter() - started
    return Scenario(
        f"lint_pool_{workers}",
        f"pkilint only, pool of {workers}",
        len(ders),
        elapsed,
        "diagnostic",
        workers=workers,
        cpu_seconds=cpu,
    )


# -- bulk issuance through the service -------------------------------------------------------------


@dataclass
class Instance:
    runtime: CaRuntime
    csv_path: Path


@contextmanager
def instance(database_url: str | None, people: list[dict[str, str]]) -> Iterator[Instance]:
    """A fresh data directory, schema and ec-p384 hierarchy, and the citizens' CSV beside them."""
    with tempfile.TemporaryDirectory(prefix="kyso-bench-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            env="development",
            data_dir=data_dir,
            database_url=database_url,
            master_key=secrets.token_urlsafe(36),  # 48 characters
            base_url=BASE_URL,
            pki_base_url=None,
        )
        runtime = CaRuntime.from_settings(settings)
        try:
            upgrade(runtime.db)
            with runtime.db.transaction() as session:
                initialise(session, runtime.ca, "ec-p384")
            csv_path = data_dir / "citizens.csv"
            write_csv(csv_path, people)
            yield Instance(runtime, csv_path)
        finally:
            runtime.db.dispose()


def no_lint(ders: list[bytes], types: list[str]) -> list[list[Finding]]:
    return [[] for _ in ders]


def bulk_issue(
    inst: Instance, label: str, key: str, database: str, workers: int, *, lint: bool = True
) -> Scenario:
    """Time start_run + draining bulk.run (or, without lint, the same batches with lint stubbed out)."""
    rt = inst.runtime
    source = bulk.read_csv(inst.csv_path)
    failures: list[str] = []
    first_batch: float | None = None
    server_before = _server_cpu(rt)
    steal_before = _steal_seconds()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    with rt.db.transaction() as session:
        done = bulk.start_run(session, source, rt.ca.clock.now())
    if lint:
        outcomes = bulk.run(rt.db, rt.ca, source, done, workers=workers)
    else:
        outcomes = _run_without_lint(inst, source, done)
    for outcome in outcomes:
        if first_batch is None:
            first_batch = time.perf_counter() - started
        if outcome.outcome != "issued":
            failures.append(f"row {outcome.row_number}: {outcome.outcome}: {outcome.message}")
    elapsed = time.perf_counter() - started
    # The lint pool has been shut down (its workers waited for), so RUSAGE_CHILDREN now includes them.
    parent_cpu, workers_cpu = (now - before for now, before in zip(_cpu_seconds(), cpu, strict=True))
    server_after = _server_cpu(rt)
    steal = _steal_seconds() - steal_before
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    with rt.db.transaction() as session:
        totals = bulk.finish_run(session, source.run_id, rt.ca.clock.now())
        stored = session.scalar(
            select(func.count())
            .select_from(Certificate)
            .where(Certificate.profile == "citizen", Certificate.status == "valid")
        )
    rows = len(source.rows)
    if failures or totals.get("issued") != rows or stored != rows:
        shown = "\n  ".join(failures[:5]) or "(no failed outcome reported)"
        raise BenchFailure(
            f"{label}: expected {rows} issued certificates, the run recorded {totals} and the database holds "
            f"{stored} valid citizen certificates; first failures:\n  {shown}"
        )
    extra: dict[str, float | int | str] = {
        "first_batch_s": round(first_batch or 0.0, 3),
        "parent_cpu_s": round(parent_cpu, 2),
        "lint_workers_cpu_s": round(workers_cpu, 2),
        "steal_s": round(steal, 2),
        "server": _server_version(rt),
    }
    if server_cpu is not None:
        extra["db_server_cpu_s"] = round(server_cpu, 2)
    # SQLite runs inside this process; a PostgreSQL server we cannot see (remote) leaves the total unknown.
    known = database == "sqlite" or server_cpu is not None
    return Scenario(
        key,
        label,
        rows,
        elapsed,
        "bulk" if lint else "diagnostic",
        database,
        workers,
        cpu_seconds=parent_cpu + workers_cpu + (server_cpu or 0.0) if known else None,
        extra=extra,
    )


def _run_without_lint(inst: Instance, source: bulk.BulkFile, done: set[int]) -> Iterator[bulk.RowOutcome]:
    rt = inst.runtime
    pending = [row for row in source.rows if row[0] not in done]
    for i in range(0, len(pending), bulk.BATCH_SIZE):
        yield from bulk.issue_batch(rt.db, rt.ca, source.run_id, pending[i : i + bulk.BATCH_SIZE], no_lint)


def _server_version(rt: CaRuntime) -> str:
    if rt.db.dialect == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    with rt.db.engine.connect() as connection:
        return f"PostgreSQL {connection.exec_driver_sql('SHOW server_version').scalar()}"


def _server_cpu(rt: CaRuntime) -> float | None:
    """CPU seconds used so far by a PostgreSQL server on this machine (postmaster and its backends)."""
    if rt.db.dialect == "sqlite":
        return None
    try:
        with rt.db.engine.connect() as connection:
            data_directory = connection.exec_driver_sql("SHOW data_directory").scalar()
        postmaster = int((Path(str(data_directory)) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError, SQLAlchemyError):
        return None  # a remote server, or not ours to look at
    return _process_tree_cpu(postmaster)


def bench_database(
    database: str, people: list[dict[str, str]], workers: int, *, sequential: bool
) -> list[Scenario]:
    name = "SQLite" if database == "sqlite" else "PostgreSQL"
    runs: list[tuple[str, str, int, bool]] = [
        (f"{database}_w{workers}", f"bulk issue, {name}, workers={workers}", workers, True),
    ]
    if sequential and workers != 1:
        runs.append((f"{database}_w1", f"bulk issue, {name}, workers=1", 1, True))
    runs.append((f"{database}_nolint", f"{name}, lint stubbed out", 1, False))
    results = []
    if database == "sqlite":
        for key, label, n, lint in runs:
            _progress(f"running {label} ({len(people)} rows) …")
            with instance(None, people) as inst:
                results.append(bulk_issue(inst, label, key, database, n, lint=lint))
        return results
    try:
        from tests.support import postgres
    except ImportError as exc:  # run from outside the repository checkout
        _progress(f"skipping {name}: tests/support/postgres.py is not importable ({exc})")
        return results
    reason = postgres.available()
    if reason is not None:
        _progress(f"skipping {name}: {reason}")
        return results
    # KYSO_TEST_DATABASE_URL if set, else a throwaway cluster (the suite's: fsync and synchronous_commit off)
    with postgres.postgres_url() as admin_url:
        for index, (key, label, n, lint) in enumerate(runs):
            _progress(f"running {label} ({len(people)} rows) …")
            name_in_db = f"kyso_bench_{index}"
            url = postgres.fresh_database(admin_url, name_in_db)
            try:
                with instance(url, people) as inst:
                    results.append(bulk_issue(inst, label, key, database, n, lint=lint))
            finally:  # leave nothing behind on a server named by KYSO_TEST_DATABASE_URL
                drop = psql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psql.Identifier(name_in_db))
                with psycopg.connect(postgres.libpq_url(admin_url), autocommit=True) as connection:
                    connection.execute(drop)
    return results


# -- report ----------------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cryptography": importlib.metadata.version("cryptography"),
        "pkilint": importlib.metadata.version("pkilint"),
        "sqlalchemy": importlib.metadata.version("sqlalchemy"),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": round(os.getloadavg()[0], 2),
    }


def report_text(info: dict[str, object], scenarios: list[Scenario], raw: Scenario, args: Args) -> str:
    cpus = int(info["cpus_usable"] or 1)  # type: ignore[call-overload]
    lines = [
        f"Bulk issuance: {args.rows} citizens, EC P-256 keys in custody, ec-p384 CA, "
        f"pkilint {LINT_TYPE} on every certificate",
        f"machine: {info['cpu_count']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"cryptography {info['cryptography']}, pkilint {info['pkilint']}, SQLAlchemy {info['sqlalchemy']}",
        "",
        f"{'scenario':<34} {'certs':>5} {'seconds':>7} {'certs/s':>8} {'ms/cert':>7} "
        f"{'CPU ms/cert':>11} {f'{cpus}-CPU cap/s':>12} {'vs raw builder':>15}",
        f"{'-' * 34} {'-' * 5} {'-' * 7} {'-' * 8} {'-' * 7} {'-' * 11} {'-' * 12} {'-' * 15}",
    ]
    for s in scenarios:
        ratio = s.rate / raw.rate
        shown = "1.000 (peer)" if s is raw else f"{ratio:.3f} (1/{1 / ratio:.1f})"
        cpu_ms = s.cpu_ms_per_cert
        cap = s.ceiling(cpus)
        lines.append(
            f"{s.label:<34} {s.certificates:>5} {s.seconds:>7.2f} {s.rate:>8.1f} {s.ms_per_cert:>7.2f} "
            f"{'-' if cpu_ms is None else f'{cpu_ms:.2f}':>11} {'-' if cap is None else f'{cap:.0f}':>12} "
            f"{shown:>15}"
        )
    lines += [
        "",
        f"ms/cert is wall clock; CPU ms/cert adds up every process doing the work (this one, lint workers, "
        f"the PostgreSQL server); {cpus}-CPU cap/s = {cpus} x 1000 / CPU ms/cert, the most that work allows "
        f"here even with perfect overlap.",
    ]
    for s in scenarios:
        if "lint_ms_per_cert" in s.extra:
            lines.append(
                f"builder + pkilint, per certificate: build+sign {s.extra['build_sign_ms_per_cert']} ms, "
                f"lint {s.extra['lint_ms_per_cert']} ms"
            )
    servers = sorted({str(s.extra["server"]) for s in scenarios if "server" in s.extra})
    if servers:
        lines.append(f"databases: {', '.join(servers)}")
    lines.append("CPU seconds per run (this process / lint workers / PostgreSQL server):")
    for s in scenarios:
        if "parent_cpu_s" in s.extra:
            server = s.extra.get("db_server_cpu_s", "in-process" if s.database == "sqlite" else "unknown")
            first = f"; first batch after {s.extra['first_batch_s']} s" if s.kind == "bulk" else ""
            first += f"; steal {s.extra['steal_s']} s"
            lines.append(
                f"  {s.label:<34} wall {s.seconds:6.2f}: {s.extra['parent_cpu_s']} / "
                f"{s.extra['lint_workers_cpu_s']} / {server}{first}"
            )
    lines += [
        f"{info['date']}: load average (1 min) before / after {info['load_before']} / {info['load_after']}, "
        f"CPU stolen by the hypervisor during the benchmark {info['steal_s']} s",
        "",
    ]
    for s in scenarios:
        if s.kind == "bulk":
            verdict = "met" if s.rate >= TARGET else "NOT met"
            lines.append(
                f"target >= {TARGET:.0f} certs/s with lint: {s.label}: {s.rate:.1f}/s, "
                f"{100 * s.rate / TARGET:.0f}% of target, {verdict}"
            )
    return "\n".join(lines)


def report_json(info: dict[str, object], scenarios: list[Scenario], raw: Scenario, args: Args) -> str:
    cpus = int(info["cpus_usable"] or 1)  # type: ignore[call-overload]

    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return json.dumps(
        {
            "benchmark": "bulk_issue",
            "rows": args.rows,
            "sample": args.sample,
            "lint_type": LINT_TYPE,
            "machine": info,
            "target_certs_per_s": TARGET,
            "scenarios": [
                {
                    **{k: v for k, v in asdict(s).items() if k not in ("extra", "cpu_seconds")},
                    **s.extra,
                    "seconds": round(s.seconds, 3),
                    "certs_per_s": round(s.rate, 2),
                    "ms_per_cert": round(s.ms_per_cert, 3),
                    "cpu_seconds": rounded(s.cpu_seconds, 2),
                    "cpu_ms_per_cert": rounded(s.cpu_ms_per_cert, 3),
                    "cpu_bound_cap_certs_per_s": rounded(s.ceiling(cpus), 1),
                    "ratio_vs_raw_builder": round(s.rate / raw.rate, 4),
                    **({"target_met": s.rate >= TARGET} if s.kind == "bulk" else {}),
                }
                for s in scenarios
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


# -- entry point -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Args:
    rows: int
    sample: int
    workers: int
    databases: tuple[str, ...]
    sequential: bool
    json: bool


def _positive(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit}")
        return value

    return parse


def _databases(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in DATABASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(DATABASES)}")
    return names


def parse_args(argv: list[str]) -> Args:
    parser = argparse.ArgumentParser(
        prog="python -m bench bulk_issue",
        description="Bulk issuance throughput with lint on every certificate, beside cryptography's builder.",
    )
    parser.add_argument("--rows", type=_positive(MAX_ROWS), default=3000, help="citizens to issue (3000)")
    parser.add_argument(
        "--sample", type=_positive(MAX_ROWS), default=300, help="certificates for the lint-only figures (300)"
    )
    parser.add_argument(
        "--workers",
        type=_positive(256),
        default=os.cpu_count() or 1,
        help="lint worker processes for bulk issue (default: CPU count)",
    )
    parser.add_argument(
        "--databases",
        type=_databases,
        default=DATABASES,
        help="comma-separated: sqlite,postgresql (default both; PostgreSQL from KYSO_TEST_DATABASE_URL "
        "or a throwaway cluster)",
    )
    parser.add_argument("--no-sequential", action="store_true", help="skip the workers=1 run on SQLite")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ns = parser.parse_args(argv)
    return Args(ns.rows, min(ns.sample, ns.rows), ns.workers, ns.databases, not ns.no_sequential, ns.json)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    info = machine()
    steal_start = _steal_seconds()
    people = citizens(args.rows)
    scenarios: list[Scenario] = []
    try:
        # Bulk runs first: the parent then starts its lint pool as `kyso ca bulk-issue` does, without
        # pkilint validators already built (forked workers would inherit them).
        for database in args.databases:
            scenarios += bench_database(
                database, people, args.workers, sequential=args.sequential and database == "sqlite"
            )
    except BenchFailure as exc:
        print(f"bench bulk_issue FAILED: {exc}", file=sys.stderr)
        return 1
    _progress(f"running the raw cryptography builder ({args.rows} certificates) …")
    raw = bench_raw_builder(people)
    _progress(f"running builder + pkilint and pkilint alone ({args.sample} certificates) …")
    with_lint, findings = bench_builder_and_lint(people[: args.sample])
    pool = bench_parallel_lint(people[: args.sample], args.workers)
    scenarios = [raw, with_lint, pool, *scenarios]
    if blocking(findings):
        # The peer must be a certificate the service would sign, or the comparison means little.
        print(
            "bench bulk_issue FAILED: the raw builder's certificate does not pass lint: "
            + "; ".join(map(str, blocking(findings))),
            file=sys.stderr,
        )
        return 1
    info["load_after"] = round(os.getloadavg()[0], 2)
    info["steal_s"] = round(_steal_seconds() - steal_start, 2)
    print(report_json(info, scenarios, raw, args) if args.json else report_text(info, scenarios, raw, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
