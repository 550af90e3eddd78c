"""A morning's flow against a live `kyso serve` (JSON logs captured): issue, log in with TOTP (token and
browser session), an API key, sign, invite, check in, verify, and some refused attempts. Then the logs are
searched for every secret the flow handled — none may appear — and every JSON answer for private keys;
API answers carry the security headers and a request id."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import (
    MASTER_KEY,
    Instance,
    LiveServer,
    make_account,
    make_instance,
    start_server,
    stop_server,
)
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder
from tests.support.subjects import CITIZEN

PKCS12_PASSWORD = "p12-Pa55word-never-logged"
WRONG_PASSWORD = "wrong-Pa55word-never-logged"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@dataclass
class Flow:
    server: LiveServer
    instance: Instance
    secrets: dict[str, str] = field(default_factory=dict)
    answers: list[httpx.Response] = field(default_factory=list)

    def keep(self, name: str, value: str | None) -> None:
        assert value, name
        self.secrets[name] = value

    def call(self, client: httpx.Client, method: str, path: str, expect: int, **kwargs) -> httpx.Response:
        response = client.request(method, path, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text[:300]}"
        )
        self.answers.append(response)
        return response


def _code(account, offset: int = 0) -> str:
    return account.code(at=time.time() + offset)


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Iterator[Flow]:
    tmp = tmp_path_factory.mktemp("secrets")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    server = start_server(instance, env={"KYSO_LOG_FORMAT": "json"})
    run = Flow(server, instance)
    try:
        _morning(run)
    finally:
        stop_server(server)
    yield run
    instance.db.dispose()


def _morning(run: Flow) -> None:
    instance = run.instance
    operator, admin = (make_account(instance, r) for r in ("ca-operator", "admin"))
    official, serial = holder(instance, "official")
    run.keep("password", official.password)
    for name, account in (("operator", operator), ("official", official), ("admin", admin)):
        run.keep(f"{name} TOTP secret", account.totp_secret)
    run.keep("master key", MASTER_KEY)
    with httpx.Client(base_url=run.server.url, timeout=60) as http:
        # refused attempts first: a wrong password and a made-up token must not be echoed into the logs
        run.call(
            http,
            "POST",
            "/api/v1/auth/token",
            401,
            data={"username": official.username, "password": WRONG_PASSWORD},
        )
        run.keep("wrong password", WRONG_PASSWORD)
        fake = "kyso_" + "F" * 40
        run.call(http, "GET", "/api/v1/auth/me", 401, headers={"Authorization": f"Bearer {fake}"})
        run.keep("made-up token", fake)

        def login(account, offset: int = 0) -> dict[str, str]:
            form = {"username": account.username, "password": account.password}
            if account.totp_secret:
                form["totp"] = _code(account, offset)
                run.keep(f"TOTP code {account.username} {offset}", form["totp"])
            token = run.call(http, "POST", "/api/v1/auth/token", 200, data=form).json()["access_token"]
            run.keep(f"token {account.username}", token)
            return {"Authorization": f"Bearer {token}"}

        ops = login(operator)
        body = {"profile": "citizen", **CITIZEN.as_dict(), "keygen": "ec-p256", "delivery": "pkcs12",
                "pkcs12_password": PKCS12_PASSWORD}  # fmt: skip
        issued = run.call(http, "POST", "/api/v1/certificates", 201, json=body, headers=ops).json()
        run.keep("PKCS#12 password", PKCS12_PASSWORD)
        assert issued["pkcs12_base64"]  # the key goes back encrypted, once, by design

        adm = login(admin)
        service = make_account(instance, "service")
        key = run.call(http, "POST", "/api/v1/api-keys", 201, headers=adm,
                       json={"username": service.username, "name": "DMS", "scopes": ["certificates:read"]}).json()["key"]  # fmt: skip
        run.keep("API key", key)
        run.call(http, "GET", "/api/v1/certificates", 200, headers={"Authorization": f"Bearer {key}"})

        login_page = run.call(http, "GET", "/portal", 401)  # the login form, with its pre-session token
        form_token = login_page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        session_form = {"username": admin.username, "password": admin.password, "totp": _code(admin, 30),
                        "csrf_token": form_token}  # fmt: skip
        browser = run.call(http, "POST", "/api/v1/auth/session", 200, data=session_form)
        run.keep("session cookie", browser.cookies.get("kyso_session"))
        run.keep("CSRF token", browser.json()["csrf_token"])

        run.call(http, "POST", "/api/v1/signing/credentials", 201, headers=ops,
                 json={"username": official.username, "certificate_serial": serial})  # fmt: skip
        me = login(official, -30)  # the code of the step before: the next one confirms the signature
        pdf = sample_pdf(1)
        code = _code(official)
        run.keep("TOTP code for signing", code)
        granted = run.call(http, "POST", "/api/v1/signing/authorizations", 201, headers=me,
                           json={"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": code}).json()  # fmt: skip
        signed = run.call(
            http, "POST", "/api/v1/signing/sign", 200, headers=me,
            files=[("documents", ("d.pdf", pdf, "application/pdf"))],
            data={"authorization_id": granted["id"], "level": "b-lt", "appearance": "invisible"},
        ).content  # fmt: skip

        venue = {"code": "GATE", "name": "UBND Phường Bến Thành", "address": "1 Lê Lợi", "desks": ["g1"]}
        run.call(http, "POST", "/api/v1/venues", 201, json=venue, headers=adm)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        invitation = run.call(http, "POST", "/api/v1/invitations", 201, headers=me, json={
            "guest_name": "Phạm Thị Thu", "venue": "GATE", "starts_at": now.isoformat(),
            "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "meeting_title": "Họp", "cccd": "079203001234",
        }).json()  # fmt: skip
        run.keep("invitation QR payload", invitation["payload"])
        desk = make_account(instance, "desk", venue="GATE")
        guard = login(desk)
        decision = run.call(http, "POST", "/api/v1/checkins", 200, headers=guard,
                            json={"payload": invitation["payload"], "desk": "g1"}).json()  # fmt: skip
        assert decision["decision"] == "admit"

        report = run.call(
            http, "POST", "/api/v1/verify", 200, files={"document": ("d.pdf", signed, "application/pdf")}
        )
        assert report.json()["signatures"][0]["indication"] == "TOTAL-PASSED"
        run.call(http, "POST", "/api/v1/auth/logout", 204, headers=me)


def _variants(secret: str) -> set[str]:
    """The secret as it could be written: raw, URL- and JSON-escaped, base64 of it."""
    from urllib.parse import quote, quote_plus

    return {
        secret,
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
    }


def test_no_secret_appears_in_the_logs(flow: Flow) -> None:
    log = flow.server.log.read_text(errors="replace")
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) > 20, log
    for name, secret in flow.secrets.items():
        for variant in _variants(secret):
            assert variant not in log, f"the {name} appears in the logs"
    for marker in ("PRIVATE KEY", "password=", "totp=", "Authorization", "Bearer ", "kyso_session="):
        assert marker not in log, f"{marker!r} appears in the logs"


def test_logs_are_json_with_one_access_line_per_request(flow: Flow) -> None:
    entries = [json.loads(line) for line in flow.server.log.read_text().splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "kyso.access"]
    ids = {a.headers["x-request-id"] for a in flow.answers}
    logged = {e["request_id"] for e in access}
    assert ids <= logged  # every answer of the flow has its access line, under the id the client was given
    sign = next(e for e in access if e["route"] == "/api/v1/signing/sign")
    assert sign["method"] == "POST" and sign["status"] == 200 and sign["client"] == "127.0.0.1"
    assert sign["duration_ms"] > 0
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's own lines in the same format


def test_no_private_key_in_any_answer(flow: Flow) -> None:
    for answer in flow.answers:
        assert b"PRIVATE KEY" not in answer.content, answer.request.url
        if answer.headers.get("content-type", "").startswith("application/json"):
            text = answer.text
            for field_name in ('"private_key', '"d":', '"key_pem"', '"secret"'):
                assert field_name not in text, (answer.request.url, field_name)


def test_api_answers_carry_security_headers_and_a_request_id(flow: Flow) -> None:
    for answer in flow.answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        assert answer.headers.get("x-request-id")
