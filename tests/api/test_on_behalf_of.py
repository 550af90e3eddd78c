"""Integrators sign on behalf of an official (issue 16 item 7), as docs/api.md and docs/signing.md say:
the integrator's API key, with a signing scope, asks for an authorisation for the official's credential
(``on_behalf_of``); the official confirms with their own one-time code; the key then signs. No code of the
official, no authorisation; no signing scope, or an account that is not a signer, no signing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import FrozenClock
from identity import accounts
from identity.sessions import create_api_key
from signing import credentials
from store.models import AuditEntry, SignedDocument
from tests.conftest import Instance, TestAccount, bearer, make_account
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder, root_asn1
from tests.support.validators import pyhanko_verdicts

SIGNING = "/api/v1/signing"


@dataclass
class Integration:
    client: TestClient
    clock: FrozenClock
    instance: Instance
    integrator: str  # the service account's username
    keys: dict[str, dict[str, str]]  # scope name → Authorization header of a key with that scope
    official: TestAccount
    official_auth: dict[str, str]
    clerk: TestAccount
    operator: TestAccount
    operator_auth: dict[str, str]

    def code(self, account: TestAccount) -> str:
        """The signer's next code: each code is accepted once, so move the clock a step on."""
        self.clock.advance(seconds=31)
        return account.code(at=self.clock.now().timestamp())

    def login(self, account: TestAccount) -> dict[str, str]:
        """Log in with a fresh code (the first login also confirms the authenticator's enrolment)."""
        form = {"username": account.username, "password": account.password, "totp": self.code(account)}
        response = self.client.post("/api/v1/auth/token", data=form)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def authorize(self, key: str, on_behalf_of: str | None, pdf: bytes, code: str, **extra: object):
        body: dict[str, object] = {"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": code}
        if on_behalf_of is not None:
            body["on_behalf_of"] = on_behalf_of
        body.update(extra)
        return self.client.post(f"{SIGNING}/authorizations", json=body, headers=self.keys[key])

    def sign(self, headers: dict[str, str], authorization_id: str, pdf: bytes):
        files = [("documents", ("decision.pdf", pdf, "application/pdf"))]
        data = {"authorization_id": authorization_id, "level": "b-t", "appearance": "invisible"}
        return self.client.post(f"{SIGNING}/sign", files=files, data=data, headers=headers)


@pytest.fixture(scope="module")
def integration(shared_instance: Instance) -> Iterator[Integration]:
    clock = FrozenClock(dt.datetime.now(dt.UTC))  # the real time: certificates are issued with it
    app = create_app(shared_instance.settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        operator_account = make_account(shared_instance, "ca-operator")
        operator = bearer(client, operator_account)  # the clock is still the real time
        official, official_serial = holder(shared_instance, "official")
        clerk, seal_serial = holder(shared_instance, "clerk")
        for account, serial in ((official, official_serial), (clerk, seal_serial)):
            bound = client.post(
                f"{SIGNING}/credentials",
                json={"username": account.username, "certificate_serial": serial},
                headers=operator,
            )
            assert bound.status_code == 201, bound.text
        service = make_account(shared_instance, "service")
        keys = {}
        with shared_instance.db.transaction() as session:
            for scope in ("documents:sign", "documents:seal", "certificates:read"):
                key = create_api_key(session, clock, service.username, scope, [scope], actor="test")
                keys[scope] = {"Authorization": f"Bearer {key.key}"}
        integration = Integration(
            client, clock, shared_instance, service.username, keys, official, {}, clerk, operator_account,
            operator,
        )  # fmt: skip
        integration.official_auth = integration.login(official)
        integration.login(clerk)
        yield integration
    app.state.kyso.runtime.db.dispose()


def _problem(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fragment in response.json()["detail"], response.json()["detail"]


def test_an_integrator_signs_for_an_official_who_confirms(integration: Integration) -> None:
    pdf = sample_pdf(1)
    code = integration.code(integration.official)  # typed by the official into the integrator's system
    granted = integration.authorize("documents:sign", integration.official.username, pdf, code)
    assert granted.status_code == 201, granted.text
    signed = integration.sign(integration.keys["documents:sign"], granted.json()["id"], pdf)
    assert signed.status_code == 200, signed.text
    [verdict] = pyhanko_verdicts(signed.content, root_asn1(integration.instance))
    assert verdict.intact and verdict.valid and verdict.trusted
    document_id = signed.headers["X-Kyso-Document-Id"]
    with integration.instance.db.reading() as session:
        official_id = accounts.get(session, integration.official.username).id
        assert session.get(SignedDocument, document_id).account_id == official_id  # signed as the official
        authorized = session.query(AuditEntry).filter(AuditEntry.action == "signing.authorize").all()
        entry = next(e for e in authorized if json.loads(e.details)["authorization"] == granted.json()["id"])
        signature = session.query(AuditEntry).filter(AuditEntry.target == document_id).one()
    assert (entry.actor, entry.target) == (integration.integrator, integration.official.username)
    assert signature.action == "document.sign" and signature.actor == integration.integrator


def test_the_clerk_seals_through_an_integrator_key_with_the_seal_scope(integration: Integration) -> None:
    pdf = sample_pdf(1)
    granted = integration.authorize(
        "documents:seal", integration.clerk.username, pdf, integration.code(integration.clerk)
    )
    assert granted.status_code == 201, granted.text
    assert integration.sign(integration.keys["documents:seal"], granted.json()["id"], pdf).status_code == 200


def test_no_authorisation_without_the_officials_own_code(integration: Integration) -> None:
    pdf = sample_pdf(1)
    official = integration.official.username
    _problem(integration.authorize("documents:sign", official, pdf, "000000"), 403, "code is wrong")
    clerks_code = integration.code(integration.clerk)  # a valid code, but not the official's
    _problem(integration.authorize("documents:sign", official, pdf, clerks_code), 403, "code is wrong")


def test_the_integrator_cannot_use_the_officials_own_authorisation(integration: Integration) -> None:
    pdf = sample_pdf(1)
    body = {
        "documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}],
        "code": integration.code(integration.official),
    }
    own = integration.client.post(f"{SIGNING}/authorizations", json=body, headers=integration.official_auth)
    assert own.status_code == 201, own.text
    key = integration.keys["documents:sign"]
    _problem(integration.sign(key, own.json()["id"], pdf), 403, "no such signing authorisation")


def test_a_key_acts_only_within_its_scopes_and_for_signers(integration: Integration) -> None:
    pdf = sample_pdf(1)
    clerk, official = integration.clerk.username, integration.official.username
    # the seal key may not sign for the official, the sign key may not seal for the clerk
    _problem(
        integration.authorize("documents:seal", official, pdf, integration.code(integration.official)),
        403, "may not sign documents",
    )  # fmt: skip
    _problem(
        integration.authorize("documents:sign", clerk, pdf, integration.code(integration.clerk)),
        403, "may not seal documents",
    )  # fmt: skip
    # a key without a signing scope does not reach the signing routes
    _problem(integration.authorize("certificates:read", official, pdf, "123456"), 403, "documents:sign")
    # only people who sign are signed for: not a CA operator, an admin or another service account
    operator = integration.operator.username
    _problem(
        integration.authorize("documents:sign", operator, pdf, integration.code(integration.operator)),
        403, "signs only for",
    )  # fmt: skip
    # an integrator names the signer
    _problem(integration.authorize("documents:sign", None, pdf, "123456"), 422, "on_behalf_of")


def test_a_disabled_officials_credential_is_not_signed_for(integration: Integration) -> None:
    official, serial = holder(integration.instance, "official")
    bound = integration.client.post(
        f"{SIGNING}/credentials",
        json={"username": official.username, "certificate_serial": serial},
        headers=integration.operator_auth,
    )
    assert bound.status_code == 201, bound.text
    integration.login(official)
    with integration.instance.db.transaction() as session:
        accounts.get(session, official.username).disabled = True
    pdf = sample_pdf(1)
    _problem(
        integration.authorize("documents:sign", official.username, pdf, integration.code(official)),
        403, "disabled",
    )  # fmt: skip


def test_an_authorisation_is_not_used_once_its_signer_is_disabled(integration: Integration) -> None:
    official, serial = holder(integration.instance, "official")
    bound = integration.client.post(
        f"{SIGNING}/credentials",
        json={"username": official.username, "certificate_serial": serial},
        headers=integration.operator_auth,
    )
    assert bound.status_code == 201, bound.text
    integration.login(official)
    pdf = sample_pdf(1)
    granted = integration.authorize("documents:sign", official.username, pdf, integration.code(official))
    assert granted.status_code == 201, granted.text
    with integration.instance.db.transaction() as session:
        accounts.get(session, official.username).disabled = True
    key = integration.keys["documents:sign"]
    _problem(integration.sign(key, granted.json()["id"], pdf), 403, "disabled")


def test_an_integrator_signs_a_digest_for_the_official(integration: Integration) -> None:
    digest = hashlib.sha256(b"the byte ranges of a PDF the document system assembles").hexdigest()
    body = {
        "documents": [{"sha256": digest}],
        "code": integration.code(integration.official),
        "on_behalf_of": integration.official.username,
    }
    key = integration.keys["documents:sign"]
    granted = integration.client.post(f"{SIGNING}/authorizations", json=body, headers=key)
    assert granted.status_code == 201, granted.text
    signed = integration.client.post(
        f"{SIGNING}/sign-hash",
        json={"authorization_id": granted.json()["id"], "hashes": [digest]},
        headers=key,
    )
    assert signed.status_code == 200, signed.text
    [signature] = signed.json()["signatures"]
    assert signature["hash"] == digest and signature["cms_base64"]
    with integration.instance.db.reading() as session:
        bound = credentials.of_account(session, accounts.get(session, integration.official.username).id)
    assert signed.json()["certificate_serial"] == bound[0].certificate_serial
