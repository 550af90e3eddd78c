"""One-time passwords must be changed at first login; everyone can change their own password; an admin
resetting their own password or second factor confirms with their current password first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from identity import accounts
from tests.conftest import TEST_PASSWORD, Instance, TestAccount, bearer, make_account

TOKEN, PASSWORD, ME = "/api/v1/auth/token", "/api/v1/auth/password", "/api/v1/auth/me"
CHOSEN = "a passphrase of my own choosing"


@dataclass
class Fresh:
    username: str
    one_time: str


@pytest.fixture(scope="module")
def client(shared_instance: Instance) -> Iterator[TestClient]:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False, base_url="https://testserver") as c:
        yield c
    app.state.kyso.runtime.db.dispose()


def fresh_desk(instance: Instance, name: str) -> Fresh:
    """A desk account as an admin creates it: with a one-time password (desks need no second factor)."""
    with instance.db.transaction() as session:
        new = accounts.create(session, instance.ca.clock, username=name, role="desk", display_name=name,
                              venue="GATE-P")  # fmt: skip
    assert new.one_time_password
    return Fresh(name, new.one_time_password)


def _auth(answer) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_one_time_password_only_lets_its_owner_choose_a_new_one(
    shared_instance: Instance, client: TestClient
) -> None:
    desk = fresh_desk(shared_instance, "desk.first")
    first = client.post(TOKEN, data={"username": desk.username, "password": desk.one_time})
    assert first.json()["password_change_required"] is True
    auth = _auth(first)
    refused = client.get(ME, headers=auth)
    assert refused.status_code == 403 and PASSWORD in refused.json()["detail"]
    assert refused.headers["content-type"].startswith("application/problem+json")
    checkin = client.post("/api/v1/checkins", json={"payload": "x", "desk": "gate-1"}, headers=auth)
    assert checkin.status_code == 403, "a one-time password opens nothing but the change"
    wrong = client.post(PASSWORD, json={"current_password": "not the password", "new_password": CHOSEN},
                        headers=auth)  # fmt: skip
    assert wrong.status_code == 403, wrong.text
    same = client.post(PASSWORD, json={"current_password": desk.one_time, "new_password": desk.one_time},
                       headers=auth)  # fmt: skip
    assert same.status_code == 422 and "different" in same.json()["detail"]
    short = client.post(PASSWORD, json={"current_password": desk.one_time, "new_password": "short"},
                        headers=auth)  # fmt: skip
    assert short.status_code == 422
    changed = client.post(PASSWORD, json={"current_password": desk.one_time, "new_password": CHOSEN},
                          headers=auth)  # fmt: skip
    assert changed.status_code == 204, changed.text
    assert client.get(ME, headers=auth).status_code == 200, "the same session now opens everything"
    assert client.post(TOKEN, data={"username": desk.username, "password": desk.one_time}).status_code == 401
    again = client.post(TOKEN, data={"username": desk.username, "password": CHOSEN})
    assert again.json()["password_change_required"] is False


def test_the_first_login_can_choose_the_new_password_at_once(
    shared_instance: Instance, client: TestClient
) -> None:
    desk = fresh_desk(shared_instance, "desk.once")
    form = {"username": desk.username, "password": desk.one_time, "new_password": CHOSEN}
    answer = client.post(TOKEN, data=form)
    assert answer.json()["password_change_required"] is False
    assert client.get(ME, headers=_auth(answer)).status_code == 200
    bad = client.post(TOKEN, data={"username": desk.username, "password": CHOSEN, "new_password": "short"})
    assert bad.status_code == 422


def test_changing_ones_password_needs_the_current_one_and_ends_other_sessions(
    shared_instance: Instance, client: TestClient
) -> None:
    official = make_account(shared_instance, "official")
    mine = bearer(client, official)
    second = {
        "username": official.username,
        "password": TEST_PASSWORD,
        "totp": official.code(time.time() + 30),
    }
    other = _auth(client.post(TOKEN, data=second))  # another session of the same account
    wrong = client.post(PASSWORD, json={"current_password": "x" * 12, "new_password": CHOSEN}, headers=mine)
    assert wrong.status_code == 403
    with shared_instance.db.reading() as session:
        assert accounts.get(session, official.username).failed_logins == 1, "a wrong guess is counted"
    body = {"current_password": TEST_PASSWORD, "new_password": CHOSEN}
    assert client.post(PASSWORD, json=body, headers=mine).status_code == 204
    assert client.get(ME, headers=mine).status_code == 200
    assert client.get(ME, headers=other).status_code == 401, "the other sessions end"


def test_an_admin_resetting_their_own_password_or_factor_confirms_it_first(
    shared_instance: Instance, client: TestClient
) -> None:
    admin = make_account(shared_instance, "admin")
    auth = bearer(client, admin)
    own = f"/api/v1/users/{admin.username}"
    for path in (f"{own}/reset-password", f"{own}/totp"):
        bare = client.post(path, headers=auth)
        assert bare.status_code == 403 and "current_password" in bare.json()["detail"], bare.text
        wrong = client.post(path, json={"current_password": "y" * 12}, headers=auth)
        assert wrong.status_code == 403, wrong.text
    right = client.post(f"{own}/reset-password", json={"current_password": TEST_PASSWORD}, headers=auth)
    assert right.status_code == 200 and right.json()["one_time_password"]
    someone = make_account(shared_instance, "official")
    other_admin = bearer(client, make_account(shared_instance, "admin"))
    assert client.post(f"/api/v1/users/{someone.username}/totp", headers=other_admin).status_code == 200


def test_the_pages_send_a_one_time_password_to_the_change_page(
    shared_instance: Instance, client: TestClient
) -> None:
    desk = fresh_desk(shared_instance, "desk.web")
    client.cookies.set("kyso_form", "w" * 43)
    login = client.post("/api/v1/auth/session", data={"username": desk.username, "password": desk.one_time,
                                                      "csrf_token": "w" * 43})  # fmt: skip
    assert login.status_code == 200 and login.json()["password_change_required"] is True
    page = client.get("/desk", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/account/password"
    form = client.get("/account/password")
    assert form.status_code == 200 and 'id="password-form"' in form.text
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    body = {"current_password": desk.one_time, "new_password": CHOSEN}
    assert client.post(PASSWORD, json=body, headers=csrf).status_code == 204
    assert client.get("/desk", follow_redirects=False).status_code == 200
    client.cookies.clear()


def test_the_change_page_is_for_everyone_signed_in(shared_instance: Instance, client: TestClient) -> None:
    assert client.get("/account/password", follow_redirects=False).status_code == 401  # the login form
    official: TestAccount = make_account(shared_instance, "official")
    assert client.get("/account/password", headers=bearer(client, official)).status_code == 200
