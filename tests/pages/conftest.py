"""One live `kyso serve` (SQLite) and one headless Chromium per test process, shared by the page tests;
a site with a venue, a guard, an official who can sign, and helpers to invite guests through the API."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    Instance,
    LiveServer,
    TestAccount,
    make_account,
    make_instance,
    start_server,
    stop_server,
)
from tests.support.browser import DESK_PC, PHONE, launch
from tests.support.signing import holder

pytestmark = pytest.mark.browser
_guests = itertools.count(1)
VENUE = "UBND-BT"
DESKS = ["gate-1", "gate-2"]


@dataclass
class Site:
    instance: Instance
    server: LiveServer
    api: httpx.Client
    admin: dict[str, str]
    official: TestAccount
    official_auth: dict[str, str]
    guard: TestAccount
    guard_auth: dict[str, str]
    shots: Path

    @property
    def url(self) -> str:
        return self.server.url

    def invite(self, guest_name: str | None = None, **fields: object) -> dict:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        body = {
            "guest_name": guest_name or f"Nguyễn Thị Minh Khai {next(_guests)}",
            "venue": VENUE,
            # begun a minute ago: the desk shows today's list in Vietnam, and a start ten minutes ahead
            # would be tomorrow's from 23:50 on
            "starts_at": (now - dt.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + dt.timedelta(hours=2)).isoformat(),
            "meeting_title": "Họp giao ban chuyển đổi số",
            **fields,
        }
        response = self.api.post("/api/v1/invitations", json=body, headers=self.official_auth)
        assert response.status_code == 201, response.text
        return response.json()


def _login(api: httpx.Client, account: TestAccount, at: float | None = None) -> dict[str, str]:
    form = {"username": account.username, "password": account.password}
    if account.totp_secret:
        form["totp"] = account.code(at)
    response = api.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import time

    tmp = tmp_path_factory.mktemp("pages")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    # plain http on loopback, like `make run`: the session cookie is not marked Secure (httpx would not send it)
    # every page test logs in from 127.0.0.1: the default 10 logins a minute per client would refuse the
    # later ones of a run (instance.env() leaves out tests/conftest.py's KYSO_LOGIN_RATE_PER_MINUTE)
    server = start_server(
        instance, env={"KYSO_BASE_URL": "http://127.0.0.1:8000", "KYSO_LOGIN_RATE_PER_MINUTE": "100000"}
    )
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            admin = _login(api, make_account(instance, "admin"))
            venue = {"code": VENUE, "name": "UBND Phường Bến Thành", "address": "92 Lê Thánh Tôn, Quận 1, TP.HCM",
                     "desks": DESKS}  # fmt: skip
            assert api.post("/api/v1/venues", json=venue, headers=admin).status_code == 201
            official, serial = holder(instance, "official")
            operator = _login(api, make_account(instance, "ca-operator"), time.time() - 30)
            bound = api.post("/api/v1/signing/credentials", headers=operator,
                             json={"username": official.username, "certificate_serial": serial})  # fmt: skip
            assert bound.status_code == 201, bound.text
            guard = make_account(instance, "desk", venue=VENUE)
            # KYSO_SCREENSHOT_DIR keeps them past pytest's three retained temporary directories
            shots = Path(os.environ.get("KYSO_SCREENSHOT_DIR") or tmp / "screenshots")
            shots.mkdir(parents=True, exist_ok=True)
            yield Site(instance, server, api, admin, official, _login(api, official, time.time() - 30), guard,
                       _login(api, guard), shots)  # fmt: skip
    finally:
        stop_server(server)
        instance.db.dispose()


# Module scope, not session: while Playwright's sync API is open its event loop counts as running in this
# thread, so every later test in the same xdist worker that calls asyncio.run() (signing, verification)
# would fail. pytest closes a module's fixtures as soon as the worker moves on to another module.
@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = launch(playwright)
    yield chromium
    chromium.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


@pytest.fixture
def desk_pc(browser):
    context = browser.new_context(viewport=DESK_PC)
    yield context
    context.close()


def log_in(page, account: TestAccount, code: str | None = None) -> None:
    """Fill the login page a signed-in page shows to strangers (401) and wait for the page itself."""
    page.fill("#username", account.username)
    page.fill("#password", account.password)
    if code:
        page.fill("#totp", code)
    with page.expect_navigation():
        page.click("button[type=submit]")
