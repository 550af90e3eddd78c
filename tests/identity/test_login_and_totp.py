"""Passwords, lockout, the second factor and sessions, with a frozen clock where time matters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient

import identity.passwords
from api.app import create_app
from core.clock import FrozenClock
from core.errors import ServiceError
from identity import accounts, lockout
from identity.sessions import LOCK_AFTER, authenticate, login
from keystore.secretbox import SecretBox
from store.models import AuditEntry
from tests.conftest import TEST_PASSWORD, Instance, bearer, make_account, make_instance

T0 = dt.datetime(2026, 11, 23, 1, 0, 0, tzinfo=dt.UTC)  # 08:00 in Hồ Chí Minh City, on a 30 s boundary


@pytest.fixture
def frozen(tmp_path: Path, database_url: str) -> tuple[Instance, FrozenClock, SecretBox]:
    clock = FrozenClock(T0)
    instance = make_instance(tmp_path, database_url, clock=clock)
    return instance, clock, SecretBox(instance.settings.master_key_bytes())


def try_login(instance: Instance, box: SecretBox, username: str, password: str, code: str | None):
    with instance.db.transaction() as session:
        outcome = login(
            session, instance.ca.clock, box, username=username, password=password, code=code, source="test"
        )
        return outcome.token


def test_totp_window_edges_and_replay(frozen: tuple[Instance, FrozenClock, SecretBox]) -> None:
    instance, clock, box = frozen
    official = make_account(instance, "official")
    generator = pyotp.TOTP(official.totp_secret or "")
    now = T0.timestamp()
    assert try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now - 30))  # one step back
    assert not try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now - 30)), "replayed"
    assert not try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now - 60)), "too old"
    assert try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now))  # same step: once
    assert not try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now)), (
        "same step twice"
    )
    assert not try_login(instance, box, official.username, TEST_PASSWORD, generator.at(now + 60)), "too new"
    assert try_login(
        instance, box, official.username, TEST_PASSWORD, generator.at(now + 30)
    )  # one step ahead
    clock.advance(seconds=90)
    assert try_login(instance, box, official.username, TEST_PASSWORD, generator.at(clock.now().timestamp()))


def test_recovery_codes_work_once(frozen: tuple[Instance, FrozenClock, SecretBox]) -> None:
    instance, _, box = frozen
    clerk = make_account(instance, "clerk")
    with instance.db.transaction() as session:
        account = accounts.get(session, clerk.username)
        codes = lockout.confirm_enrolment(
            session, instance.ca.clock, box, account, clerk.code(T0.timestamp()), source="test"
        )
    assert codes is not None and len(codes) == 10 and len(set(codes)) == 10
    assert try_login(instance, box, clerk.username, TEST_PASSWORD, codes[3])
    assert not try_login(instance, box, clerk.username, TEST_PASSWORD, codes[3]), (
        "a recovery code is single-use"
    )
    assert try_login(instance, box, clerk.username, TEST_PASSWORD, codes[4].upper())


def test_repeated_failures_lock_for_a_growing_delay(frozen: tuple[Instance, FrozenClock, SecretBox]) -> None:
    instance, clock, box = frozen
    citizen = make_account(instance, "citizen", cccd="079203004321")
    for _ in range(LOCK_AFTER):
        assert not try_login(instance, box, citizen.username, "wrong password!!", None)
    assert not try_login(instance, box, citizen.username, TEST_PASSWORD, None), (
        "locked even with the password"
    )
    clock.advance(seconds=31)
    assert not try_login(instance, box, citizen.username, "wrong again....", None)  # 6th failure: 60 s now
    clock.advance(seconds=31)
    assert not try_login(instance, box, citizen.username, TEST_PASSWORD, None), "the delay doubled"
    clock.advance(seconds=30)
    assert try_login(instance, box, citizen.username, TEST_PASSWORD, None)
    with instance.db.reading() as session:
        assert accounts.get(session, citizen.username).failed_logins == 0


def test_unknown_accounts_cost_the_same_password_check(
    frozen: tuple[Instance, FrozenClock, SecretBox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Login timing does not reveal whether an account exists: both paths run one Argon2 verification."""
    instance, _, box = frozen
    citizen = make_account(instance, "citizen", cccd="079203004322")
    calls: list[str] = []
    real = identity.passwords._hasher

    class CountingHasher:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, hash_: str, password: str) -> bool:
            calls.append(hash_)
            return real.verify(hash_, password)

    monkeypatch.setattr(identity.passwords, "_hasher", CountingHasher())
    try_login(instance, box, "no-such-user", "whatever password", None)
    try_login(instance, box, citizen.username, "wrong password!!", None)
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


def test_a_second_factor_is_required_for_privileged_roles(
    frozen: tuple[Instance, FrozenClock, SecretBox],
) -> None:
    instance, _, box = frozen
    with instance.db.transaction() as session:
        accounts.create(
            session, instance.ca.clock, username="noauth", role="ca-operator", display_name="x",
            password=TEST_PASSWORD,
        )  # fmt: skip
    assert not try_login(instance, box, "noauth", TEST_PASSWORD, None)
    assert not try_login(instance, box, "noauth", TEST_PASSWORD, "123456")


def test_disabling_an_account_ends_its_tokens_at_once(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        official = make_account(shared_instance, "official")
        headers = bearer(client, official)
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        admin = bearer(client, make_account(shared_instance, "admin"))
        assert client.post(f"/api/v1/users/{official.username}/disable", headers=admin).status_code == 200
        refused = client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 401 and refused.headers["content-type"].startswith(
            "application/problem+json"
        )
        # logout ends a token too
        other = bearer(client, make_account(shared_instance, "desk", venue="gate-2"))
        assert client.post("/api/v1/auth/logout", headers=other).status_code == 204
        assert client.get("/api/v1/auth/me", headers=other).status_code == 401
    app.state.kyso.runtime.db.dispose()


def test_role_escalation_and_hostile_usernames_are_refused(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        official = make_account(shared_instance, "official")
        headers = bearer(client, official)
        before = shared_instance.count(AuditEntry)
        escalate = client.post(
            f"/api/v1/users/{official.username}/role", json={"role": "ca-operator"}, headers=headers
        )
        assert escalate.status_code == 403
        assert "users:manage" in escalate.json()["detail"]
        admin_account = make_account(shared_instance, "admin")
        admin = bearer(client, admin_account)
        own = client.post(
            f"/api/v1/users/{admin_account.username}/role", json={"role": "ca-operator"}, headers=admin
        )
        assert own.status_code == 403 and "your own role" in own.json()["detail"]
        for hostile in ("robert'); DROP TABLE accounts;--", "<script>alert(1)</script>", "a"):
            response = client.post(
                "/api/v1/users", json={"username": hostile, "role": "official"}, headers=admin
            )
            assert response.status_code == 422, hostile
            assert "<script>" not in response.text
        created = client.post(
            "/api/v1/users", json={"username": "new.official", "role": "official"}, headers=admin
        )
        assert created.status_code == 201
        body = created.json()
        assert len(body["one_time_password"]) >= 16 and "password_hash" not in created.text
        assert shared_instance.count(AuditEntry) > before
    app.state.kyso.runtime.db.dispose()


def test_api_keys_are_scoped_and_revocable(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(shared_instance, "admin"))
        service = make_account(shared_instance, "service")
        created = client.post(
            "/api/v1/api-keys",
            json={"username": service.username, "name": "DMS", "scopes": ["certificates:read"]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['key']}"}
        assert client.get("/api/v1/certificates", headers=key).status_code == 200
        assert client.post("/api/v1/certificates", json={}, headers=key).status_code == 403
        listed = client.get("/api/v1/api-keys", headers=admin).json()
        mine = next(k for k in listed if k["id"] == created.json()["id"])
        assert mine["last_used_at"] is not None and created.json()["key"] not in str(listed)
        assert client.delete(f"/api/v1/api-keys/{mine['id']}", headers=admin).status_code == 204
        assert client.get("/api/v1/certificates", headers=key).status_code == 401
    app.state.kyso.runtime.db.dispose()


def test_browser_sessions_need_the_csrf_token_to_change_anything(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    # the instance's base URL is https, so the cookies are Secure: the browser sends them over https only
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as client:
        official = make_account(shared_instance, "official")
        client.cookies.set("kyso_form", "f" * 43)  # the login page's pre-session form token (login CSRF)
        response = client.post(
            "/api/v1/auth/session",
            data={"username": official.username, "password": TEST_PASSWORD, "totp": official.code(),
                  "csrf_token": "f" * 43},
        )  # fmt: skip
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert (
            "httponly" in cookie.lower()
            and "samesite=strict" in cookie.lower()
            and "secure" in cookie.lower()
        )
        csrf = response.json()["csrf_token"]
        assert client.get("/api/v1/auth/me").status_code == 200  # reading with the cookie is fine
        assert client.post("/api/v1/auth/logout").status_code == 403  # changing without the token is not
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    app.state.kyso.runtime.db.dispose()


def test_wrong_credentials_are_refused_without_telling_why(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        official = make_account(shared_instance, "official")
        answers = [
            client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 12}),
            client.post("/api/v1/auth/token", data={"username": official.username, "password": "x" * 12}),
            client.post(
                "/api/v1/auth/token",
                data={"username": official.username, "password": TEST_PASSWORD, "totp": "000000"},
            ),
        ]
        assert {r.status_code for r in answers} == {401}
        assert len({r.json()["detail"] for r in answers}) == 1
    app.state.kyso.runtime.db.dispose()


def test_tokens_of_a_disabled_account_fail_in_the_domain_too(shared_instance: Instance) -> None:
    official = make_account(shared_instance, "official")
    box = SecretBox(shared_instance.settings.master_key_bytes())
    token = try_login(shared_instance, box, official.username, TEST_PASSWORD, official.code())
    assert token
    with shared_instance.db.transaction() as session:
        accounts.disable(session, shared_instance.ca.clock, official.username, actor="test")
    with pytest.raises(ServiceError), shared_instance.db.reading() as session:
        authenticate(session, shared_instance.ca.clock, token, via="bearer")


def test_auditors_read_the_chain_over_the_api(shared_instance: Instance) -> None:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        operator = bearer(client, make_account(shared_instance, "ca-operator"))
        issued = client.post(
            "/api/v1/certificates",
            json={"profile": "citizen", "surname": "Vũ", "given_name": "Thị Mai", "cccd": "079203009999"},
            headers=operator,
        )
        assert issued.status_code == 201
        report = client.get("/api/v1/audit/verify", headers=operator).json()
        assert report["ok"] is True and report["entries"] >= 2
        listed = client.get("/api/v1/audit/entries", params={"limit": 1000}, headers=operator).json()
        actions = [(e["action"], e["target"]) for e in listed]
        assert ("certificate.issue", issued.json()["serial"]) in actions
        assert any(a == "login" for a, _ in actions)
        assert TEST_PASSWORD not in str(listed)  # passwords never reach the audit log
        official = bearer(client, make_account(shared_instance, "official"))
        assert client.get("/api/v1/audit/verify", headers=official).status_code == 403
    app.state.kyso.runtime.db.dispose()
