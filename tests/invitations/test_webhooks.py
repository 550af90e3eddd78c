"""Arrival webhooks cannot reach the server's own network (issue 16, item 5: SSRF through notify_webhook).

Any official names the URL an arrival is POSTed to. Before, the server posted to loopback, the cloud
metadata address and private networks, and followed redirects. Now (invitations/webhooks.py) a URL that
is clearly not public is refused when the invitation is created or amended (422 problem+json over HTTP),
the host is resolved again at send time and every address it resolves to must be public unless
KYSO_WEBHOOK_ALLOW lists it, the request goes to the address that was checked (no second lookup a DNS
rebinding could change), redirects are not followed, and a refused destination is given up at once.
A local HTTP server stands for the webhook receiver (127.0.0.1: refused unless allowed).
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from core.settings import load_settings
from invitations import checkin, notify, service, venues, webhooks
from invitations.service import InvitationInput
from store import invitations_repo as repo
from tests.conftest import Instance, bearer, make_account
from tests.support.clock import TUESDAY, UNDER_FAKETIME, upcoming
from tests.support.invitations import instance_context

T0 = upcoming(8, 30, weekday=TUESDAY)
_numbers = itertools.count(1)
LOOPBACK = webhooks.WebhookPolicy.parse("127.0.0.1/32")
# Not public, each spelled as a hostile caller would: loopback, metadata, private, mapped, numeric forms
REFUSED = [
    "http://127.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/hook",
    "http://017700000001/hook",
    "http://127.1/hook",
    "http://0.0.0.0:8000/",
    "http://[::]/",
    "http://[::1]:8000/",
    "http://10.1.2.3/",
    "http://172.16.0.9/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[fe80::1%25eth0]/",
    "http://[fd00::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://localhost:8000/",
    "http://kyso.localhost/",
    "http://LOCALHOST./",
    "http://127\uff0e0\uff0e0\uff0e1/",  # full-width dots: 127.0.0.1 once the name is IDNA-encoded
    "http://169\u3002254\u3002169\u3002254/",
    "http://\u24db\u24de\u24d2\u24d0\u24db\u24d7\u24de\u24e2\u24e3/",  # circled letters: "localhost"
]


@dataclass
class Receiver:
    url: str
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1: /moved redirects (302, which clients follow with a GET) to /hook,
    which answers 204."""
    found = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            found.received.append((self.path, dict(self.headers), body))
            if self.path.startswith("/moved"):
                self.send_response(302)
                self.send_header("Location", "/hook?redirected")
            else:
                self.send_response(204)
            self.end_headers()

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.url = f"http://127.0.0.1:{server.server_port}"
    yield found
    server.shutdown()


def paths(receiver: Receiver) -> list[str]:
    return [path for path, _, _ in receiver.received]


# -- sending -----------------------------------------------------------------------------------------------
def test_loopback_is_refused_by_default_and_reached_when_allowed(receiver: Receiver) -> None:
    receiver.received.clear()
    with pytest.raises(ServiceError) as refused:
        notify.post_webhook(f"{receiver.url}/hook?default", "{}")
    assert "127.0.0.1" in refused.value.message and "KYSO_WEBHOOK_ALLOW" in refused.value.message
    assert paths(receiver) == []

    notify.post_webhook(f"{receiver.url}/hook?allowed", '{"event": "guest.arrived"}', LOOPBACK)
    [(path, headers, body)] = receiver.received
    assert path == "/hook?allowed" and json.loads(body) == {"event": "guest.arrived"}
    assert headers["Host"] == receiver.url.removeprefix("http://")


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.received.clear()
    with pytest.raises(ServiceError) as caught:
        notify.post_webhook(f"{receiver.url}/moved", "{}", LOOPBACK)
    assert "302" in caught.value.message and "redirect" in caught.value.message
    assert paths(receiver) == ["/moved"]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_destinations_are_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(ServiceError) as caught:
        notify.post_webhook(url, "{}")
    assert caught.value.kind is Kind.MALFORMED, caught.value.message


def test_a_name_is_resolved_once_checked_and_the_checked_address_is_the_one_connected(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(receiver.url.rsplit(":", 1)[1])
    answers = {"hooks.example.test": ["127.0.0.1"], "mixed.example.test": ["93.184.215.14", "10.0.0.7"]}
    looked_up: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return answers[host]

    monkeypatch.setattr(webhooks, "_resolve", resolve)
    receiver.received.clear()
    with pytest.raises(ServiceError, match=r"127\.0\.0\.1"):  # a public-looking name that points inside
        notify.post_webhook(f"http://hooks.example.test:{port}/hook", "{}")
    with pytest.raises(ServiceError, match=r"10\.0\.0\.7"):  # one private answer is enough to refuse
        notify.post_webhook(f"http://mixed.example.test:{port}/hook", "{}")
    assert paths(receiver) == []

    looked_up.clear()
    notify.post_webhook(f"http://hooks.example.test:{port}/hook?pinned", "{}", LOOPBACK)
    assert looked_up == ["hooks.example.test"], "one lookup: the address checked is the address used"
    [(path, headers, _)] = receiver.received
    assert path == "/hook?pinned" and headers["Host"] == f"hooks.example.test:{port}"

    by_name = webhooks.WebhookPolicy.parse("hooks.example.test")
    notify.post_webhook(f"http://hooks.example.test:{port}/hook?by-name", "{}", by_name)
    assert paths(receiver)[-1] == "/hook?by-name"


def test_a_receiver_that_never_answers_is_given_up_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts (the kernel does), never answers
        monkeypatch.setattr(webhooks, "DEADLINE", 1.0)
        started = dt.datetime.now(dt.UTC)
        with pytest.raises(ServiceError) as caught:
            notify.post_webhook(f"http://127.0.0.1:{silent.getsockname()[1]}/", "{}", LOOPBACK)
        elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    assert caught.value.kind is Kind.UNAVAILABLE
    # the 1 s deadline ends it long before the 5 s read timeout would (under libfaketime the deadline's
    # timer never fires and the read timeout ends it: tests.support.clock.UNDER_FAKETIME)
    assert UNDER_FAKETIME or elapsed < webhooks.TIMEOUT, elapsed


def test_a_refused_destination_in_the_outbox_is_given_up_at_once(
    shared_instance: Instance, receiver: Receiver
) -> None:
    """A row written before this check existed (or while the operator allowed it) is re-checked at send."""
    clock = FrozenClock(T0)
    context = instance_context(shared_instance, clock)
    context.webhooks = LOOPBACK  # allowed when the invitation was made
    created, desk = _invite(shared_instance, context, notify_webhook=f"{receiver.url}/hook?outbox")
    context.webhooks = webhooks.WebhookPolicy()  # the operator no longer allows it
    clock.set(T0 + dt.timedelta(minutes=25))
    with shared_instance.db.transaction() as session:
        assert checkin.check_in(
            session, context, created.payload, checkin.desk_for(session, desk, None), "g"
        ).admitted  # type: ignore[arg-type]
    receiver.received.clear()

    result = notify.deliver_due(shared_instance.db, clock.now, None, notify.invitation_mail_builder(context))

    assert result.failed >= 1 and "/hook?outbox" not in paths(receiver)
    with shared_instance.db.reading() as session:
        [message] = repo.outbox_for(session, created.id)
    assert message.status == "failed" and message.attempts == 1 and "KYSO_WEBHOOK_ALLOW" in message.last_error


# -- creating and amending ---------------------------------------------------------------------------------
def _invite(instance: Instance, context: service.InvitationContext, **data: object):
    n = next(_numbers)
    official = make_account(instance, "official")
    with instance.db.transaction() as session:
        venues.add(session, context.clock, f"HOOK-{n}", "UBND Phường Tân Định", desks=[f"h{n}"])
        host = service.host_of(session, official.username)
        created = service.create(session, context, host, InvitationInput(
            guest_name="Lê Văn Tám", venue=f"HOOK-{n}", starts_at=T0 + dt.timedelta(minutes=30),
            ends_at=T0 + dt.timedelta(hours=2), **data,  # type: ignore[arg-type]
        ))  # fmt: skip
    return created, f"h{n}"


@pytest.mark.parametrize(
    "url", [*REFUSED, "ftp://hooks.example.gov.vn/", "http://user:pw@hooks.example.gov.vn/"]
)
def test_an_invitation_refuses_a_webhook_that_is_clearly_not_public(
    shared_instance: Instance, url: str
) -> None:
    context = instance_context(shared_instance, FrozenClock(T0))
    with pytest.raises(ServiceError) as caught:
        _invite(shared_instance, context, notify_webhook=url)
    assert caught.value.kind is Kind.MALFORMED and "webhook" in caught.value.message


def test_an_allowed_network_or_a_public_name_is_accepted(shared_instance: Instance) -> None:
    context = instance_context(shared_instance, FrozenClock(T0))
    created, _ = _invite(shared_instance, context, notify_webhook="https://hooks.example.gov.vn/arrivals")
    assert created.id  # a name is resolved when sending, not now
    context.webhooks = webhooks.WebhookPolicy.parse("10.20.0.0/16, localhost")
    for url in ("http://10.20.3.4:8080/hook", "http://localhost:9000/hook"):
        assert _invite(shared_instance, context, notify_webhook=url)[0].id


@pytest.fixture(scope="module")
def client(shared_instance: Instance) -> Iterator[TestClient]:
    application = create_app(shared_instance.settings)
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client
    application.state.kyso.runtime.db.dispose()


def test_over_http_a_metadata_webhook_is_a_422_problem_on_create_and_amend(
    client: TestClient, shared_instance: Instance
) -> None:
    n = next(_numbers)
    admin = bearer(client, make_account(shared_instance, "admin"))
    assert client.post("/api/v1/venues", json={"code": f"HTTP-{n}", "name": "UBND", "desks": ["g"]},
                       headers=admin).status_code == 201  # fmt: skip
    official = bearer(client, make_account(shared_instance, "official"))
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    body = {"guest_name": "Lê Văn Tám", "venue": f"HTTP-{n}", "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=1)).isoformat()}  # fmt: skip
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
    ):
        answer = client.post("/api/v1/invitations", json={**body, "notify_webhook": url}, headers=official)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "webhook" in answer.json()["detail"]
    created = client.post("/api/v1/invitations", json=body, headers=official)
    assert created.status_code == 201, created.text
    amended = client.patch(f"/api/v1/invitations/{created.json()['id']}",
                           json={"notify_webhook": "http://127.0.0.1:8000/"}, headers=official)  # fmt: skip
    assert amended.status_code == 422 and amended.headers["content-type"].startswith(
        "application/problem+json"
    )


@pytest.mark.parametrize("value", ["*", "10.0.0.0/33", "http://x/", "a b"])
def test_the_allow_list_names_networks_and_hosts_only(value: str) -> None:
    with pytest.raises(ValueError, match="KYSO_WEBHOOK_ALLOW"):
        load_settings(database_url="sqlite://", webhook_allow=value)
    assert load_settings(database_url="sqlite://").webhook_allow == ""
