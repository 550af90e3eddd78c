"""Signing fixtures shared by the signing, API and verification tests: certificates in custody, a
SigningService over an instance, and the real validators (pdfsig with an NSS database, pyHanko)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from ca.issuance import IssueRequest
from ca.signing_keys import CaKeySource
from ca.subjects import SubjectFields
from ca.tsa import TimestampAuthority
from ca.tsa_pyhanko import InProcessTimeStamper
from signing.service import Appearance, DocumentIn, SigningService, SignRequest
from tests.support.subjects import AGENCY, CITIZEN, OFFICIAL, SUBJECTS  # noqa: F401 - re-exported


def issue_in_custody(instance, profile: str = "official", subject: SubjectFields | None = None) -> str:
    """A certificate whose key the service holds; returns its serial."""
    fields = subject or SUBJECTS[profile]
    if profile == "citizen" and subject is None:
        import random

        fields = SubjectFields(**{**fields.as_dict(), "cccd": f"0792030{random.randrange(10**5):05d}"})
    with instance.db.transaction() as session:
        issued = instance.ca.issue(session, IssueRequest(profile=profile, subject=fields, keygen="ec-p256"))
    return issued.certificate.serial


def new_cccd() -> str:
    """A valid CCCD (a woman of Hồ Chí Minh City born in the 1980s) that no other test's account has."""
    import secrets

    return f"0791{80 + secrets.randbelow(20):02d}{secrets.randbelow(10**6):06d}"


def issue_to(instance, cccd: str, profile: str = "official", organization: str | None = None) -> str:
    """A personal certificate in custody naming the person ``cccd`` (an official of ``organization``)."""
    fields = {**SUBJECTS[profile].as_dict(), "cccd": cccd}
    if organization is not None:
        fields["organization"] = organization
    return issue_in_custody(instance, profile, SubjectFields(**fields))


def issue_seal(instance, organization: str | None = None) -> str:
    """An agency-seal certificate in custody for ``organization`` (the test agency by default)."""
    fields = {**AGENCY.as_dict(), **({"organization": organization} if organization else {})}
    return issue_in_custody(instance, "agency-seal", SubjectFields(**fields))


def holder(instance, role: str = "official", organization: str | None = None, **extra: str):
    """An account with a CCCD and the certificate in custody that is its own to bind: ``(account, serial)``.

    Officials and citizens get a personal certificate naming their CCCD; a clerk gets an official
    certificate of ``organization`` (which makes them its member) and the organisation's seal, whose
    serial is returned.
    """
    from tests.conftest import make_account

    cccd = extra.pop("cccd", None) or new_cccd()
    account = make_account(instance, role, cccd=cccd, **extra)
    if role == "clerk":
        issue_to(instance, cccd, "official", organization)
        return account, issue_seal(instance, organization)
    return account, issue_to(instance, cccd, "citizen" if role == "citizen" else "official", organization)


def signing_service(instance) -> SigningService:
    timestamper = InProcessTimeStamper(TimestampAuthority(instance.ca), instance.db)
    return SigningService(
        CaKeySource(instance.db, instance.ca),
        timestamper=timestamper,
        verify_url_base=instance.settings.base_url,
        max_document_bytes=100 << 20,
        now=instance.ca.clock.now,
    )


def sign_bytes(service: SigningService, serial: str, pdf: bytes, **request: object) -> tuple[bytes, str]:
    """Sign one PDF; returns the signed bytes and the registry id."""
    key = service.keys.signing_key(serial)
    request.setdefault("appearance", Appearance.INVISIBLE)
    outcome = asyncio.run(
        service.sign(key, [DocumentIn("test.pdf", io.BytesIO(pdf))], SignRequest(**request))
    )
    return outcome[0].output.read(), outcome[0].record.id


def root_pem(instance) -> bytes:
    with instance.db.reading() as session:
        chain = instance.ca.chain(session, "root")
    return chain[-1].public_bytes(serialization.Encoding.PEM)


def root_asn1(instance) -> asn1_x509.Certificate:
    with instance.db.reading() as session:
        chain = instance.ca.chain(session, "root")
    return asn1_x509.Certificate.load(chain[-1].public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True)
class PdfsigSignature:
    field: str
    signature_valid: bool
    certificate_trusted: bool
    total_document: bool
    raw: str


def nss_database(directory: Path, root_pem_bytes: bytes) -> Path:
    """An NSS database trusting the test root, for poppler's pdfsig."""
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
        if not root_pem_bytes:  # an empty database: nothing is trusted
            return directory
        root_file = directory / "root.pem"
        root_file.write_bytes(root_pem_bytes)
        subprocess.run(
            [
                "certutil",
                "-A",
                "-n",
                "kyso-root",
                "-t",
                "CT,C,C",
                "-i",
                str(root_file),
                "-d",
                f"sql:{directory}",
            ],
            check=True,
        )
    return directory


def _pdfsig_shim(nss_dir: Path) -> Path:
    """Build the LD_PRELOAD workaround for poppler 22.12's certificate-status bug (see pdfsig_shim.c)."""
    shim = nss_dir / "pdfsig_shim.so"
    if not shim.exists():
        source = Path(__file__).with_name("pdfsig_shim.c")
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(shim), str(source), "-ldl"], check=True)
    return shim


def pdfsig(pdf: Path, nss_dir: Path) -> list[PdfsigSignature]:
    """pdfsig's verdict per signature (its exit code is 0 even on a digest mismatch, so parse the text).

    ``-no-ocsp``: validation must not depend on the network; revocation is pyHanko's part of the checks.
    """
    # keep what is preloaded already (libfaketime, when the suite runs under a faked date)
    preload = [str(_pdfsig_shim(nss_dir)), *filter(None, os.environ.get("LD_PRELOAD", "").split(":"))]
    env = {**os.environ, "LD_PRELOAD": ":".join(preload)}
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_dir}", "-no-ocsp", str(pdf)], capture_output=True, text=True, env=env
    )
    text = result.stdout + result.stderr
    signatures = []
    for block in re.split(r"\nSignature #\d+:\n", text)[1:]:
        name = re.search(r"Signature Field Name: (.*)", block)
        signatures.append(
            PdfsigSignature(
                field=name.group(1).strip() if name else "",
                signature_valid="Signature Validation: Signature is Valid." in block,
                certificate_trusted="Certificate Validation: Certificate is Trusted." in block,
                total_document="Total document signed" in block,
                raw=block,
            )
        )
    return signatures


@dataclass
class SignerSession:
    """An official with her own certificate bound, logged in over the API (a TestClient), whose next
    one-time code ``code()`` gives by moving the app's frozen clock past the last one used."""

    headers: dict[str, str]
    code: Callable[[], str]


def signer_session(client, instance, clock) -> SignerSession:
    from tests.conftest import bearer, make_account

    operator = bearer(client, make_account(instance, "ca-operator"))
    official, serial = holder(instance, "official")
    bound = client.post(
        "/api/v1/signing/credentials",
        json={"username": official.username, "certificate_serial": serial},
        headers=operator,
    )
    assert bound.status_code == 201, bound.text

    def code() -> str:
        clock.advance(seconds=31)  # each code is accepted once
        return official.code(at=clock.now().timestamp())

    form = {"username": official.username, "password": official.password, "totp": code()}
    login = client.post("/api/v1/auth/token", data=form)
    assert login.status_code == 200, login.text
    return SignerSession({"Authorization": f"Bearer {login.json()['access_token']}"}, code)
