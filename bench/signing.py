"""PAdES signing throughput: Kyso's pipeline beside pyHanko's documented default path, in one run.

In-process, one-page PDF, the same EC P-256 key and certificate (issued by the test CA) for both:
  peer:  SimpleSigner.load(key, cert, chain) + signers.sign_pdf(...) per document (no bytes_reserved,
         so pyHanko signs a dry run to size the container) — the path pyHanko's documentation shows;
  kyso:  signing.pades.PadesSigner with its CMS template (signer built once per certificate).
Then B-T, B-LT and B-LTA through SigningService with the key in custody, and B-B through the HTTP API
(`kyso serve --workers 2`, batches of documents under one authorisation each).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pyotp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from bench.status_services import _free_port
from ca.hierarchy import initialise
from ca.issuance import IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.settings import Settings
from keystore import KeySigner
from signing.cms import TemplateSigner
from signing.pades import Level, PadesSigner, SignOptions
from store.migrate import upgrade

VENV_BIN = Path(sys.executable).parent
PASSWORD = "bench password long enough"
OFFICIAL = SubjectFields(
    surname="Trần", given_name="Thị Bình", cccd="079185001235", organization="UBND Phường Bến Thành",
    title="Phó Chủ tịch", province="Thành phố Hồ Chí Minh",
)  # fmt: skip


def _sample_pdf() -> bytes:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.pdfs import sample_pdf

    return sample_pdf(1)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _timed(function, seconds: float, minimum: int = 20) -> tuple[int, float]:
    count, start = 0, time.perf_counter()
    while count < minimum or time.perf_counter() - start < seconds:
        function()
        count += 1
    return count, time.perf_counter() - start


def _instance(tmp: Path) -> CaRuntime:
    settings = Settings(data_dir=tmp / "var", master_key="bench-master-key-" + "x" * 32,
                        base_url="http://127.0.0.1:8000")  # fmt: skip
    rt = CaRuntime.from_settings(settings)
    upgrade(rt.db)
    with rt.db.transaction() as session:
        initialise(session, rt.ca, settings.ca_key_algorithm)
    return rt


def _csr_certificate(rt: CaRuntime, tmp: Path):
    """An official's certificate for a key the benchmark holds in a file (the peer loads it from there)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with rt.db.transaction() as session:
        issued = rt.ca.issue(session, IssueRequest(profile="official", subject=OFFICIAL, csr=csr))
        chain = rt.ca.chain(session, "government")
    certificate = x509.load_pem_x509_certificate(issued.certificate.certificate_pem.encode())
    files = {"key": tmp / "key.pem", "cert": tmp / "cert.pem", "chain": tmp / "chain.pem"}
    files["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files["cert"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files["chain"].write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return key, certificate, chain, files


def in_process(rt: CaRuntime, tmp: Path, pdf: bytes, seconds: float) -> dict[str, float]:
    key, certificate, chain, files = _csr_certificate(rt, tmp)

    def peer() -> bytes:
        signer = signers.SimpleSigner.load(
            str(files["key"]), str(files["cert"]), ca_chain_files=[str(files["chain"])]
        )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        return signers.sign_pdf(
            writer, signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer
        ).getvalue()

    der = lambda c: asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))  # noqa: E731
    pades = PadesSigner(TemplateSigner(KeySigner(key), der(certificate), [der(c) for c in chain]))
    options = SignOptions(level=Level.B_B, field_name="Signature1")
    loop = asyncio.new_event_loop()

    def kyso() -> bytes:
        output = io.BytesIO()
        loop.run_until_complete(pades.sign(IncrementalPdfFileWriter(io.BytesIO(pdf)), output, options))
        return output.getvalue()

    peer(), kyso()  # warm both (imports, caches) before timing
    peer_n, peer_s = _timed(peer, seconds)
    kyso_n, kyso_s = _timed(kyso, seconds)
    loop.close()
    return {"peer": _rate(peer_n, peer_s), "kyso": _rate(kyso_n, kyso_s)}


def levels(rt: CaRuntime, pdf: bytes, seconds: float) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.signing import issue_in_custody, sign_bytes, signing_service

    class _Instance:  # what the test helpers need of an instance
        def __init__(self, runtime: CaRuntime) -> None:
            self.db, self.ca, self.settings = runtime.db, runtime.ca, runtime.settings

    instance = _Instance(rt)
    service = signing_service(instance)
    serial = issue_in_custody(instance, "official")
    rates = {}
    for level in (Level.B_T, Level.B_LT, Level.B_LTA):
        sign_bytes(service, serial, pdf, level=level)
        count, elapsed = _timed(lambda level=level: sign_bytes(service, serial, pdf, level=level), seconds, 5)
        rates[level.value] = _rate(count, elapsed)
    return rates


def over_http(tmp: Path, pdf: bytes, workers: int, clients: int, batch: int) -> dict[str, float]:
    env_settings = {
        "KYSO_DATA_DIR": str(tmp / "http"),
        "KYSO_MASTER_KEY": "bench-master-key-" + "y" * 32,
        "KYSO_SIGNING_BATCH_MAX": str(batch),
    }
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}, **env_settings,
           "KYSO_BASE_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    kyso_bin = str(VENV_BIN / "kyso")
    subprocess.run([kyso_bin, "init"], env=env, check=True, capture_output=True)
    accounts = []
    for number in range(clients):
        name = f"official{number}"
        added = subprocess.run([kyso_bin, "user", "add", name, "--role", "official", "--password-file", "/dev/stdin",
                                "--cccd", f"0791850{number:05d}", "--json"], input=PASSWORD + "\n", env=env, capture_output=True,
                               text=True, check=True)  # fmt: skip
        secret = pyotp.parse_uri(json.loads(added.stdout)["otpauth_uri"]).secret
        issued = subprocess.run([kyso_bin, "ca", "issue", "official", "--surname", "Trần", "--given-name", f"Bình {number}",
                                 "--organization", "UBND Phường Bến Thành", "--cccd", f"0791850{number:05d}", "--json"],
                                env=env, capture_output=True, text=True, check=True)  # fmt: skip
        serial = json.loads(issued.stdout)["serial"]
        subprocess.run(
            [kyso_bin, "user", "bind-cert", name, serial], env=env, check=True, capture_output=True
        )
        accounts.append((name, secret))
    log = (tmp / "serve.log").open("wb")
    server = subprocess.Popen([kyso_bin, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", tmp / "serve.log")
        base = f"http://127.0.0.1:{port}"
        documents = [_unique_pdf() for _ in range(batch)]
        hashes = [hashlib.sha256(d).hexdigest() for d in documents]

        barrier = threading.Barrier(clients)

        def one_client(account: tuple[str, str]) -> tuple[int, float, float]:
            """Log in, confirm one batch with the next code, then sign it when every client is ready."""
            name, secret = account
            with httpx.Client(base_url=base, timeout=300) as client:
                login = {"username": name, "password": PASSWORD, "totp": pyotp.TOTP(secret).now()}
                token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                body = {
                    "documents": [{"sha256": h} for h in hashes],
                    "code": pyotp.TOTP(secret).at(time.time() + 30),
                }
                granted = client.post("/api/v1/signing/authorizations", headers=headers, json=body)
                granted.raise_for_status()
                files = [("documents", (f"d{i}.pdf", d, "application/pdf")) for i, d in enumerate(documents)]
                form = {"authorization_id": granted.json()["id"], "level": "b-b", "appearance": "invisible"}
                barrier.wait()
                start = time.perf_counter()
                response = client.post("/api/v1/signing/sign", headers=headers, files=files, data=form)
                end = time.perf_counter()
                if response.status_code != 200:
                    print(f"{name}: HTTP {response.status_code} {response.text[:300]}", file=sys.stderr)
            return (len(documents) if response.status_code == 200 else 0), start, end

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(one_client, accounts))
        signed = sum(n for n, _, _ in results)
        wall = max(e for _, _, e in results) - min(s for _, s, _ in results)
        return {"signed": signed, "per_second": _rate(signed, wall), "wall_s": wall}
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_healthy(url: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"kyso serve did not become healthy:\n{log.read_text()[-2000:]}")


def _unique_pdf() -> bytes:
    """Another one-page PDF (each has its own /ID, so its own hash)."""
    from tests.support.pdfs import sample_pdf

    return sample_pdf(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench signing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--seconds", type=float, default=5.0, help="time per in-process measurement")
    parser.add_argument("--workers", type=int, default=2, help="kyso serve worker processes")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients (one official each)")
    parser.add_argument("--batch", type=int, default=50, help="documents per authorisation and request")
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)
    pdf = _sample_pdf()
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        rt = _instance(tmp)
        rates = in_process(rt, tmp, pdf, args.seconds)
        print(f"{'B-B in-process, pyHanko default path (peer)':<52}{rates['peer']:>9.1f}/s")
        print(f"{'B-B in-process, kyso PadesSigner':<52}{rates['kyso']:>9.1f}/s")
        print(f"B-B ratio kyso / pyHanko default: {rates['kyso'] / rates['peer']:.1f}  (target >= 10)")
        for level, rate in levels(rt, pdf, args.seconds).items():
            print(f"{level.upper() + ' in-process, SigningService (key in custody)':<52}{rate:>9.1f}/s")
        rt.db.dispose()
        if not args.skip_http:
            http = over_http(tmp, pdf, args.workers, args.clients, args.batch)
            print(f"{f'B-B over HTTP, {args.workers} workers, {args.clients} clients x {args.batch}/request':<52}"
                  f"{http['per_second']:>9.1f}/s  ({http['signed']} signed in {http['wall_s']:.1f} s)"
                  "  (target >= 100/s)")  # fmt: skip
        print(f"measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
