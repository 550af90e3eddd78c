"""Remote signing over HTTP as the document system and the official see it: confirm with a one-time code,
sign, get a PAdES PDF back; reuse, wrong document, expiry, another user's code are refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import FrozenClock
from store.models import AuditEntry
from tests.conftest import Instance, TestAccount, bearer, make_account
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder, root_asn1
from tests.support.validators import pyhanko_verdicts

SIGNING = "/api/v1/signing"


@dataclass
class Desk:
    client: TestClient
    clock: FrozenClock
    instance: Instance
    official: TestAccount
    official_auth: dict[str, str]
    clerk: TestAccount
    clerk_auth: dict[str, str]

    def fresh_code(self, account: TestAccount) -> str:
        """The authenticator's next code: each code is accepted once, so move the clock a step on."""
        self.clock.advance(seconds=31)
        return account.code(at=self.clock.now().timestamp())

    def login(self, account: TestAccount) -> dict[str, str]:
        form = {"username": account.username, "password": account.password, "totp": self.fresh_code(account)}
        response = self.client.post("/api/v1/auth/token", data=form)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def authorize(self, account: TestAccount, auth: dict[str, str], *pdfs: bytes, code: str | None = None):
        body = {
            "documents": [{"sha256": hashlib.sha256(pdf).hexdigest()} for pdf in pdfs],
            "code": code or self.fresh_code(account),
        }
        return self.client.post(f"{SIGNING}/authorizations", json=body, headers=auth)

    def sign(self, auth: dict[str, str], authorization_id: str, *pdfs: bytes, **form: str):
        files = [("documents", (f"doc{i}.pdf", pdf, "application/pdf")) for i, pdf in enumerate(pdfs)]
        data = {"authorization_id": authorization_id, "level": "b-t", "appearance": "invisible", **form}
        return self.client.post(f"{SIGNING}/sign", files=files, data=data, headers=auth)


@pytest.fixture(scope="module")
def desk(shared_instance: Instance) -> Iterator[Desk]:
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    app = create_app(shared_instance.settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        operator = bearer(client, make_account(shared_instance, "ca-operator"))
        official, official_serial = holder(shared_instance, "official")
        clerk, seal_serial = holder(shared_instance, "clerk")
        for account, serial in ((official, official_serial), (clerk, seal_serial)):
            bound = client.post(
                f"{SIGNING}/credentials",
                json={"username": account.username, "certificate_serial": serial},
                headers=operator,
            )
            assert bound.status_code == 201, bound.text
        desk = Desk(client, clock, shared_instance, official, {}, clerk, {})
        # logins with the frozen clock's codes: issuing took seconds, the real clock may be a step on
        desk.official_auth, desk.clerk_auth = desk.login(official), desk.login(clerk)
        yield desk
    app.state.kyso.runtime.db.dispose()


def _problem(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fragment in response.json()["detail"]


def test_confirm_sign_and_register(desk: Desk) -> None:
    pdf = sample_pdf(1)
    granted = desk.authorize(desk.official, desk.official_auth, pdf)
    assert granted.status_code == 201, granted.text
    assert granted.json()["expires_at"].endswith("+07:00")

    signed = desk.sign(desk.official_auth, granted.json()["id"], pdf, reference_number="123/QĐ-UBND")
    assert signed.status_code == 200, signed.text
    assert signed.headers["content-type"] == "application/pdf"
    [verdict] = pyhanko_verdicts(signed.content, root_asn1(desk.instance))
    assert verdict.intact and verdict.valid and verdict.trusted and verdict.timestamp_trusted

    document_id = signed.headers["X-Kyso-Document-Id"]
    assert signed.headers["X-Kyso-Verify-Url"].endswith(f"/verify/{document_id}")
    registered = desk.client.get(f"{SIGNING}/documents/{document_id}")  # public: what the QR opens
    assert registered.status_code == 200
    assert registered.json()["sha256"] == hashlib.sha256(signed.content).hexdigest()
    assert registered.json()["reference_number"] == "123/QĐ-UBND"
    with desk.instance.db.reading() as session:
        entry = session.query(AuditEntry).filter(AuditEntry.target == document_id).one()
    assert entry.action == "document.sign" and entry.actor == desk.official.username
    assert json.loads(entry.details)["sha256"] == registered.json()["sha256"]


def test_an_authorisation_signs_once(desk: Desk) -> None:
    pdf = sample_pdf(1)
    authorization = desk.authorize(desk.official, desk.official_auth, pdf).json()["id"]
    assert desk.sign(desk.official_auth, authorization, pdf).status_code == 200
    _problem(desk.sign(desk.official_auth, authorization, pdf), 409, "already used")


def test_only_the_confirmed_documents_are_signed(desk: Desk) -> None:
    confirmed, other = sample_pdf(1), sample_pdf(1)
    authorization = desk.authorize(desk.official, desk.official_auth, confirmed).json()["id"]
    _problem(desk.sign(desk.official_auth, authorization, other), 403, "not one the signer confirmed")
    # the refusal consumed nothing: the confirmed document still signs
    assert desk.sign(desk.official_auth, authorization, confirmed).status_code == 200


def test_an_expired_authorisation_signs_nothing(desk: Desk) -> None:
    pdf = sample_pdf(1)
    authorization = desk.authorize(desk.official, desk.official_auth, pdf).json()["id"]
    desk.clock.advance(minutes=6)
    _problem(desk.sign(desk.official_auth, authorization, pdf), 410, "expired")


def test_wrong_reused_or_another_users_code_authorises_nothing(desk: Desk) -> None:
    pdf = sample_pdf(1)
    _problem(desk.authorize(desk.official, desk.official_auth, pdf, code="000000"), 403, "code is wrong")
    code = desk.fresh_code(desk.official)
    assert desk.authorize(desk.official, desk.official_auth, pdf, code=code).status_code == 201
    _problem(desk.authorize(desk.official, desk.official_auth, pdf, code=code), 403, "already used")
    clerks_code = desk.fresh_code(desk.clerk)
    _problem(desk.authorize(desk.official, desk.official_auth, pdf, code=clerks_code), 403, "code is wrong")
    with desk.instance.db.reading() as session:
        refusals = session.query(AuditEntry).filter(
            AuditEntry.action == "signing.authorize", AuditEntry.outcome == "refused"
        )
        assert refusals.count() >= 3


def test_another_users_authorisation_cannot_be_used(desk: Desk) -> None:
    pdf = sample_pdf(1)
    officials = desk.authorize(desk.official, desk.official_auth, pdf).json()["id"]
    _problem(desk.sign(desk.clerk_auth, officials, pdf), 403, "no such signing authorisation")


def test_the_clerk_seals_after_the_official_and_both_stay_valid(desk: Desk) -> None:
    pdf = sample_pdf(1)
    authorization = desk.authorize(desk.official, desk.official_auth, pdf).json()["id"]
    signed = desk.sign(desk.official_auth, authorization, pdf, certify="true").content
    seal_authorization = desk.authorize(desk.clerk, desk.clerk_auth, signed).json()["id"]
    sealed = desk.sign(desk.clerk_auth, seal_authorization, signed)
    assert sealed.status_code == 200, sealed.text
    verdicts = pyhanko_verdicts(sealed.content, root_asn1(desk.instance))
    assert len(verdicts) == 2 and all(v.intact and v.valid and v.trusted for v in verdicts)
    assert verdicts[0].modification_level == "FORM_FILLING" and verdicts[0].docmdp_ok


def test_a_batch_comes_back_as_a_zip_of_signed_pdfs(desk: Desk) -> None:
    pdfs = [sample_pdf(1) for _ in range(3)]
    authorization = desk.authorize(desk.official, desk.official_auth, *pdfs).json()["id"]
    response = desk.sign(desk.official_auth, authorization, *pdfs)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        names = bundle.namelist()
        assert len(names) == 3
        for name in names:
            [verdict] = pyhanko_verdicts(bundle.read(name), root_asn1(desk.instance))
            assert verdict.intact and verdict.trusted


def test_sign_hash_returns_a_cms_signature_over_the_digest(desk: Desk) -> None:
    digest = hashlib.sha256(b"the byte ranges an integrator hashed").digest()
    desk.clock.advance(seconds=31)
    body = {
        "documents": [{"sha256": digest.hex()}],
        "code": desk.official.code(at=desk.clock.now().timestamp()),
    }
    authorization = desk.client.post(
        f"{SIGNING}/authorizations", json=body, headers=desk.official_auth
    ).json()
    response = desk.client.post(
        f"{SIGNING}/sign-hash", json={"authorization_id": authorization["id"], "hashes": [digest.hex()]},
        headers=desk.official_auth,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    import base64

    signed_data = cms.ContentInfo.load(base64.b64decode(response.json()["signatures"][0]["cms_base64"]))[
        "content"
    ]
    signer_info = signed_data["signer_infos"][0]
    attributes = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attributes["message_digest"].native == digest
    certificate = x509.load_der_x509_certificate(signed_data["certificates"][0].chosen.dump())
    certificate.public_key().verify(  # raises if the signature does not match
        signer_info["signature"].native, signer_info["signed_attrs"].dump(force=True)[0:1].replace(b"\xa0", b"\x31")
        + signer_info["signed_attrs"].dump()[1:], ec.ECDSA(hashes.SHA256()),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("form", "body", "status", "fragment"),
    [
        ({}, b"not a pdf", 422, "is not a PDF"),
        ({"level": "b-zz"}, None, 422, "unknown PAdES level"),
        ({"appearance": "sparkles"}, None, 422, "unknown appearance"),
    ],
)
def test_bad_requests_get_a_problem_and_sign_nothing(desk: Desk, form, body, status, fragment) -> None:
    pdf = body if body is not None else sample_pdf(1)
    authorization = desk.authorize(desk.official, desk.official_auth, pdf).json()["id"]
    _problem(desk.sign(desk.official_auth, authorization, pdf, **form), status, fragment)


def test_a_credential_of_another_account_is_refused(desk: Desk) -> None:
    clerks = desk.client.get(f"{SIGNING}/credentials", headers=desk.clerk_auth).json()
    body = {
        "documents": [{"sha256": hashlib.sha256(b"x").hexdigest()}],
        "code": desk.fresh_code(desk.official),
        "credential_id": clerks[0]["id"],
    }
    response = desk.client.post(f"{SIGNING}/authorizations", json=body, headers=desk.official_auth)
    _problem(response, 403, "not one of this account's")


def test_a_certified_no_changes_pdf_is_refused_422_and_audited(desk: Desk) -> None:
    from tests.signing.test_document_shown import certified_no_changes
    from tests.support.signing import issue_in_custody, signing_service

    author = issue_in_custody(desk.instance, "official")
    certified = certified_no_changes(signing_service(desk.instance), author)
    granted = desk.authorize(desk.official, desk.official_auth, certified)
    assert granted.status_code == 201, granted.text
    response = desk.sign(desk.official_auth, granted.json()["id"], certified)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "no changes allowed" in response.json()["detail"]
    with desk.instance.db.reading() as session:
        refusals = session.query(AuditEntry).filter(
            AuditEntry.action == "document.sign", AuditEntry.outcome == "refused"
        )
        assert any("no changes allowed" in entry.details for entry in refusals)
