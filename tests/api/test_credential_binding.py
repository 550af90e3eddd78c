"""A certificate in custody is bound only to the account of its holder (issue 16 item 2): a personal
certificate to the account with its CCCD, an agency seal to a member of that agency, and each certificate
to one account. A CA operator or an integrator's key binding anyone else's is refused with the reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from identity import accounts
from identity.sessions import create_api_key
from store.models import SigningCredential
from tests.conftest import Instance, bearer, make_account
from tests.support.signing import holder, issue_seal, issue_to, new_cccd

CREDENTIALS = "/api/v1/signing/credentials"


@dataclass
class Binding:
    client: TestClient
    instance: Instance
    operator: dict[str, str]
    integrator: dict[str, str]

    def bind(self, username: str, serial: str, headers: dict[str, str] | None = None):
        body = {"username": username, "certificate_serial": serial}
        return self.client.post(CREDENTIALS, json=body, headers=headers or self.operator)

    def bound_to(self, serial: str) -> int:
        with self.instance.db.reading() as session:
            return session.query(SigningCredential).filter_by(certificate_serial=serial).count()


@pytest.fixture(scope="module")
def binding(shared_instance: Instance) -> Iterator[Binding]:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        operator = bearer(client, make_account(shared_instance, "ca-operator"))
        service = make_account(shared_instance, "service")
        with shared_instance.db.transaction() as session:
            key = create_api_key(
                session,
                shared_instance.ca.clock,
                service.username,
                "dms",
                ["certificates:issue"],
                actor="test",
            )
        yield Binding(client, shared_instance, operator, {"Authorization": f"Bearer {key.key}"})
    app.state.kyso.runtime.db.dispose()


def _refused(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for fragment in fragments:
        assert fragment in response.json()["detail"], response.json()["detail"]


def test_the_holder_binds_their_own_certificate(binding: Binding) -> None:
    for role in ("official", "citizen", "clerk"):
        account, serial = holder(binding.instance, role)
        bound = binding.bind(account.username, serial)
        assert bound.status_code == 201, bound.text
        assert bound.json()["purpose"] == ("seal" if role == "clerk" else "sign")


@pytest.mark.parametrize("caller", ["operator", "integrator"])
def test_another_officials_certificate_is_refused(binding: Binding, caller: str) -> None:
    _, serial_a = holder(binding.instance, "official")
    official_b, _ = holder(binding.instance, "official")
    refused = binding.bind(official_b.username, serial_a, getattr(binding, caller))
    _refused(refused, 422, "names another person", official_b.username, "CCCD")
    assert binding.bound_to(serial_a) == 0


def test_a_citizens_certificate_is_refused_to_an_official(binding: Binding) -> None:
    _, serial = holder(binding.instance, "citizen")
    official, _ = holder(binding.instance, "official")
    _refused(binding.bind(official.username, serial), 422, "names another person")
    assert binding.bound_to(serial) == 0


def test_an_account_without_a_cccd_holds_no_personal_certificate(binding: Binding) -> None:
    """Before the fix an account without a CCCD could be given anyone's certificate (the README tour)."""
    serial = issue_to(binding.instance, new_cccd(), "official")
    official = make_account(binding.instance, "official")  # no CCCD recorded
    _refused(binding.bind(official.username, serial), 422, "has no CCCD", official.username)
    assert binding.bound_to(serial) == 0


def test_a_seal_is_bound_only_to_a_member_of_its_organisation(binding: Binding) -> None:
    seal = issue_seal(binding.instance, "UBND Phường Tân Định")
    outsider, _ = holder(binding.instance, "clerk", organization="UBND Phường Đa Kao")
    _refused(binding.bind(outsider.username, seal), 422, "not a member of UBND Phường Tân Định")
    no_cccd = make_account(binding.instance, "clerk")
    _refused(binding.bind(no_cccd.username, seal), 422, "has no CCCD")
    assert binding.bound_to(seal) == 0


def test_a_certificate_is_bound_to_one_account(binding: Binding) -> None:
    organization = "UBND Phường Cầu Kho"
    first, seal = holder(binding.instance, "clerk", organization=organization)
    second, _ = holder(binding.instance, "clerk", organization=organization)
    assert binding.bind(first.username, seal).status_code == 201
    _refused(binding.bind(second.username, seal), 409, "already bound to account", first.username)
    _refused(binding.bind(first.username, seal), 409, "already bound to this account")
    assert binding.bound_to(seal) == 1


@pytest.mark.parametrize("profile", ["official", "agency-seal"])
def test_a_credential_bound_to_another_before_the_fix_signs_nothing(binding: Binding, profile: str) -> None:
    """A wrong binding made before the holder rule (as the README's tour did) authorises nothing."""
    role = "official" if profile == "official" else "clerk"
    account = make_account(binding.instance, role)  # no CCCD: nobody's holder, nobody's member
    serial = (
        issue_to(binding.instance, new_cccd(), "official")
        if role == "official"
        else issue_seal(binding.instance)
    )
    with binding.instance.db.transaction() as session:
        row = accounts.get(session, account.username)
        session.add(SigningCredential(
            id=uuid.uuid4().hex, account_id=row.id, certificate_serial=serial,
            purpose="sign" if role == "official" else "seal", created_at=binding.instance.ca.clock.now(),
        ))  # fmt: skip
    body = {"documents": [{"sha256": "ab" * 32}], "code": "000000"}
    refused = binding.client.post(
        "/api/v1/signing/authorizations", json=body, headers=bearer(binding.client, account)
    )
    _refused(refused, 403, "bound before", "has no CCCD")
