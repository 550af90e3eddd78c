"""One-time codes cannot be guessed: every place a code is checked (login, signing authorisation, TOTP
confirmation, recovery codes) counts wrong codes per account in the database, locks for a growing
delay, and after 100 consecutive wrong codes refuses code entry until an admin reopens it."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import FrozenClock
from core.ids import new_id
from identity import accounts, lockout
from store.models import AuditEntry, SigningCredential
from tests.conftest import TEST_PASSWORD, Instance, TestAccount, kyso, make_account
from tests.support.signing import holder

AUTHORIZE = "/api/v1/signing/authorizations"


@dataclass
class World:
    client: TestClient
    clock: FrozenClock
    instance: Instance
    admin_account: TestAccount

    def code(self, account: TestAccount) -> str:
        """The authenticator's code of a fresh step (each code is accepted once)."""
        self.clock.advance(seconds=31)
        return account.code(at=self.clock.now().timestamp())

    def next_code(self, account: TestAccount) -> str:
        """The code of the next step, accepted now (±1 step) without moving the clock past a lock."""
        return account.code(at=self.clock.now().timestamp() + 30)

    def wrong(self, account: TestAccount) -> str:
        """A code that is none of the accepted ones (the steps around now)."""
        now = self.clock.now().timestamp()
        valid = {account.code(at=now + step * 30) for step in (-1, 0, 1)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)

    def login(self, account: TestAccount, code: str | None = None):
        form = {"username": account.username, "password": TEST_PASSWORD, "totp": code or self.code(account)}
        return self.client.post("/api/v1/auth/token", data=form)

    def bearer(self, account: TestAccount) -> dict[str, str]:
        answer = self.login(account)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def admin(self) -> dict[str, str]:
        return self.bearer(self.admin_account)

    def signer(self) -> tuple[TestAccount, dict[str, str]]:
        """An official with a certificate in custody, logged in."""
        official, serial = holder(self.instance, "official")  # an account with its own certificate
        with self.instance.db.transaction() as session:  # the binding rules are not what is tested here
            account = accounts.get(session, official.username)
            session.add(
                SigningCredential(
                    id=new_id(), account_id=account.id, certificate_serial=serial, purpose="sign",
                    created_at=self.clock.now(),
                )
            )  # fmt: skip
        return official, self.bearer(official)

    def authorize(self, auth: dict[str, str], code: str):
        body = {"documents": [{"sha256": hashlib.sha256(b"%PDF-1.7 test").hexdigest()}], "code": code}
        return self.client.post(AUTHORIZE, json=body, headers=auth)

    def audit_of(self, username: str, action: str) -> list[AuditEntry]:
        with self.instance.db.reading() as session:
            return (
                session.query(AuditEntry)
                .filter(AuditEntry.target == username, AuditEntry.action == action)
                .all()
            )


@pytest.fixture(scope="module")
def world(shared_instance: Instance) -> Iterator[World]:
    clock = FrozenClock(dt.datetime.now(dt.UTC))  # the real time: certificates are issued with it
    app = create_app(shared_instance.settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(client, clock, shared_instance, make_account(shared_instance, "admin"))
    app.state.kyso.runtime.db.dispose()


def _locked(answer, status: int = 429) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if status == 429:
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["retry_after_seconds"] == int(answer.headers["Retry-After"])


def test_wrong_codes_at_the_authorisation_lock_out_even_the_right_code(world: World) -> None:
    official, auth = world.signer()
    answers = [world.authorize(auth, world.wrong(official)) for _ in range(lockout.LOCK_AFTER + 1)]
    assert [a.status_code for a in answers[: lockout.LOCK_AFTER]] == [403] * lockout.LOCK_AFTER
    _locked(answers[-1])
    right = world.authorize(auth, world.next_code(official))
    _locked(right)
    assert "locked" in right.json()["detail"]
    assert world.audit_of(official.username, "account.code_locked"), "each lock is audited"
    # the lock is the account's: logging in is refused too, even with the right password and code
    assert world.login(official, world.next_code(official)).status_code == 401
    world.clock.advance(seconds=lockout.LOCK_MAX.total_seconds())
    assert world.authorize(world.bearer(official), world.code(official)).status_code == 201, "it lifts"


def test_wrong_codes_at_totp_confirm_lock_out_even_the_right_code(world: World) -> None:
    clerk = make_account(world.instance, "clerk")
    auth = world.bearer(clerk)
    confirm = "/api/v1/auth/totp/confirm"
    for _ in range(lockout.LOCK_AFTER):
        wrong = world.client.post(confirm, json={"code": world.wrong(clerk)}, headers=auth)
        assert wrong.status_code == 422, wrong.text
    right = world.client.post(confirm, json={"code": world.next_code(clerk)}, headers=auth)
    _locked(right)
    assert "recovery_codes" not in right.json()


def test_failures_at_login_and_at_the_authorisation_add_up(world: World) -> None:
    official, auth = world.signer()
    for _ in range(3):
        assert world.login(official, world.wrong(official)).status_code == 401
    for _ in range(lockout.LOCK_AFTER - 3):
        assert world.authorize(auth, world.wrong(official)).status_code == 403
    _locked(world.authorize(auth, world.next_code(official)))
    with world.instance.db.reading() as session:
        assert accounts.get(session, official.username).failed_logins == lockout.LOCK_AFTER


def test_recovery_codes_count_as_codes(world: World) -> None:
    official, auth = world.signer()
    for _ in range(lockout.LOCK_AFTER):
        assert world.authorize(auth, "0000-0000-0000").status_code == 403
    _locked(world.authorize(auth, world.next_code(official)))


def test_a_right_code_ends_the_run_of_failures(world: World) -> None:
    official, auth = world.signer()
    for _ in range(lockout.LOCK_AFTER - 1):
        assert world.authorize(auth, world.wrong(official)).status_code == 403
    assert world.authorize(auth, world.code(official)).status_code == 201
    with world.instance.db.reading() as session:
        account = accounts.get(session, official.username)
        assert (account.failed_logins, account.code_failures) == (0, 0)


def test_after_100_wrong_codes_only_an_admin_reopens_code_entry(world: World) -> None:
    official, auth = world.signer()
    clock = FrozenClock(world.clock.now())
    with world.instance.db.transaction() as session:
        account = accounts.get(session, official.username)
        for _ in range(lockout.CODE_FAILURE_CAP - 1):  # the same policy function every route calls
            lockout.record_failure(session, clock, account, where="test", source="test", code=True)
            clock.advance(seconds=lockout.LOCK_MAX.total_seconds())
        assert not lockout.disabled(account), "99 wrong codes: still only a delay"
        account.locked_until = None  # the last delay has passed
    assert world.authorize(auth, world.wrong(official)).status_code == 403  # the 100th
    refused = world.authorize(auth, world.next_code(official))
    _locked(refused, 403)
    assert "admin" in refused.json()["detail"] and "Retry-After" not in refused.headers
    locks = world.audit_of(official.username, "account.code_locked")
    assert any('"admin_reset_needed":true' in e.details for e in locks)
    world.clock.advance(hours=2)  # longer than any delay: time does not reopen it
    assert world.login(official).status_code == 401
    reopened = world.client.post(f"/api/v1/users/{official.username}/unlock", headers=world.admin())
    assert reopened.status_code == 200, reopened.text
    assert world.audit_of(official.username, "account.unlock")
    assert world.login(official).status_code == 200


def test_the_owner_sees_the_lock_in_their_activity(world: World) -> None:
    official, auth = world.signer()
    for _ in range(lockout.LOCK_AFTER):
        world.authorize(auth, world.wrong(official))
    world.clock.advance(seconds=lockout.LOCK_MAX.total_seconds())
    auth = world.bearer(official)  # the delay is over; a fresh token
    activity = world.client.get("/api/v1/auth/activity", headers=auth)
    assert activity.status_code == 200, activity.text
    actions = [e["action"] for e in activity.json()]
    assert "account.code_locked" in actions
    other = make_account(world.instance, "official")
    theirs = world.client.get("/api/v1/auth/activity", headers=world.bearer(other)).json()
    assert all(e["target"] == other.username for e in theirs), "only one's own activity"


def test_the_policy_grows_the_delay_and_caps_it() -> None:
    assert lockout.lock_delay(lockout.LOCK_AFTER - 1) is None
    assert lockout.lock_delay(lockout.LOCK_AFTER) == lockout.LOCK_BASE
    assert lockout.lock_delay(lockout.LOCK_AFTER + 1) == 2 * lockout.LOCK_BASE
    assert lockout.lock_delay(60) == lockout.LOCK_MAX


def test_the_cli_reopens_code_entry_and_resets_clear_the_lock(world: World) -> None:
    official = make_account(world.instance, "official")
    with world.instance.db.transaction() as session:
        accounts.get(session, official.username).code_failures = lockout.CODE_FAILURE_CAP
    assert world.login(official).status_code == 401
    done = kyso(world.instance, "user", "unlock", official.username)
    assert done.returncode == 0, done.stderr
    assert world.login(official).status_code == 200
    with world.instance.db.transaction() as session:
        account = accounts.get(session, official.username)
        account.code_failures, account.failed_logins = lockout.CODE_FAILURE_CAP, 7
    reset = world.client.post(f"/api/v1/users/{official.username}/totp", headers=world.admin())
    assert reset.status_code == 200, reset.text
    with world.instance.db.reading() as session:
        account = accounts.get(session, official.username)
        assert (account.code_failures, account.failed_logins) == (0, 0)
    assert kyso(world.instance, "user", "unlock", "no-such-user").returncode != 0
