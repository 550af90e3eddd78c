"""Desk check-ins answered by `kyso serve`'s connection handler (api.fastpath.connection, api.fastpath.checkins).

Against a running `kyso serve --workers 2` on PostgreSQL: the answer is the route's
(the same JSON byte for byte, the same security headers, the request id), anything the handler does not
decide itself is answered by the route (401, 404, 422 … as problem+json, and the connection goes on),
split and pipelined requests are read correctly, the audit entry names the client (or the client a trusted
proxy forwarded), and many desks at once still admit each pass exactly once with a gap-free audit chain.

Which path answered is visible in the access log: the application writes a line per request it answers,
the connection handler none.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from core.clock import VIETNAM
from identity import audit
from identity.sessions import create_api_key
from invitations import service
from invitations.checkin import RELOAD_KEYS_AFTER
from invitations.reasons import ADMIT_VIETNAMESE
from invitations.service import InvitationInput
from store.models import AuditEntry, CheckIn, OutboxMessage
from tests.conftest import Instance, make_account, make_instance, new_database_url
from tests.support import cluster, raw_http
from tests.support.invitations import instance_context, make_seal

pytestmark = pytest.mark.postgres  # on SQLite (one process, no round trips) the route decides every scan
ROUTE = "/api/v1/checkins"


@dataclass
class Desk:
    instance: Instance
    served: cluster.Served
    bearer: str
    api_key: str
    official: object
    gate_username: str  # the desk account's username

    @property
    def port(self) -> int:
        return int(self.served.url.rsplit(":", 1)[1])

    def passes(self, count: int) -> list[str]:
        return cluster.make_passes(self.instance, count, host=self.official)  # type: ignore[arg-type]

    def access_lines(self, expected: int | None = None) -> int:
        """Access-log lines the application wrote for the check-in route; with ``expected``, once that many
        are there or after a while (a worker writes its line just after sending the answer)."""
        if expected is not None:
            with contextlib.suppress(AssertionError):
                cluster.poll(lambda: self.access_lines() >= expected, 2, "")
        return sum(
            1
            for line in self.served.log_text().splitlines()
            if "kyso.access" in line and f'"{ROUTE}"' in line
        )


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("fastpath")
    instance = make_instance(tmp, new_database_url("postgresql", tmp, request))
    cluster.add_venue(instance)
    gate = make_account(instance, "desk", venue=cluster.VENUE)
    official = make_account(instance, "official")
    integrator = make_account(instance, "service")
    with instance.db.transaction() as session:
        key = create_api_key(session, instance.ca.clock, integrator.username, "gates", ["checkins:create"],
                             actor="test")  # fmt: skip
    served = cluster.start(
        instance, workers=2, env={"KYSO_LOG_FORMAT": "json", "KYSO_TRUSTED_PROXIES": "127.0.0.1"}
    )
    try:
        yield Desk(instance, served, cluster.token(served.url, gate), key.key, official, gate.username)
    finally:
        cluster.stop(served)
        instance.db.dispose()


def request_bytes(bearer: str, body: dict | bytes, *, extra: str = "", version: str = "1.1") -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = (
        f"POST {ROUTE} HTTP/{version}\r\nHost: kyso\r\nAuthorization: Bearer {bearer}\r\n"
        f"Content-Type: application/json\r\n{extra}Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def scan(desk: Desk, payload: str, gate: str = cluster.DESKS[0], **extra: str) -> bytes:
    return request_bytes(desk.bearer, {"payload": payload, "desk": gate}, extra="".join(
        f"{name}: {value}\r\n" for name, value in extra.items()
    ))  # fmt: skip


def test_the_answer_is_the_routes_with_its_headers(desk: Desk) -> None:
    (payload,) = desk.passes(1)
    lines_before = desk.access_lines()

    (admitted,) = raw_http.exchange(desk.port, scan(desk, payload, **{"X-Request-Id": "desk-7.scan-42"}))

    assert admitted.status == 200 and admitted.headers["content-type"] == "application/json"
    answer = admitted.json()
    assert answer["decision"] == "admit" and answer["reason"] == ADMIT_VIETNAMESE
    assert answer["guest"] == "Khách số 0" and answer["desk"] == cluster.DESKS[0] and answer["checkin_id"]
    assert admitted.headers["x-request-id"] == "desk-7.scan-42"
    assert admitted.headers["x-content-type-options"] == "nosniff"
    assert admitted.headers["x-frame-options"] == "DENY"
    assert admitted.headers["referrer-policy"] == "no-referrer"
    assert admitted.headers["connection"] == "keep-alive" and "date" in admitted.headers
    # the same pass again, through the connection handler and through the route (an API key): same bytes
    (again,) = raw_http.exchange(desk.port, scan(desk, payload))
    routed = httpx.post(
        desk.served.url + ROUTE,
        json={"payload": payload, "desk": cluster.DESKS[0]},
        headers={"Authorization": f"Bearer {desk.api_key}"},
    )
    assert again.json()["reason_code"] == "used"
    assert routed.status_code == 200 and routed.content == again.body
    shared = ("cache-control", "x-content-type-options", "x-frame-options", "referrer-policy")
    assert {h: again.headers[h] for h in shared} == {h: routed.headers[h] for h in shared}
    assert again.headers["cache-control"] == "no-store"  # a pass and a guest's name: no cache keeps them
    assert len(again.headers["x-request-id"]) == 16  # a new id when the desk sends none
    assert desk.access_lines(lines_before + 1) == lines_before + 1, "only the API-key scan reached the app"


PROBLEMS = [
    ("an unknown token", lambda d, p: request_bytes("kyso_not-a-token", {"payload": p, "desk": "gate-1"}), 401),
    ("an unknown desk", lambda d, p: request_bytes(d.bearer, {"payload": p, "desk": "no-such-desk"}), 404),
    ("a body that is not JSON", lambda d, p: request_bytes(d.bearer, b"payload=" + p.encode()), 422),
    ("an unexpected field", lambda d, p: request_bytes(d.bearer, {"payload": p, "desk": "gate-1", "x": 1}), 422),
    ("no desk", lambda d, p: request_bytes(d.bearer, {"payload": p}), 422),
    ("a payload of 5,000 characters", lambda d, p: request_bytes(d.bearer, {"payload": "K" * 5000, "desk": "g"}), 422),
]  # fmt: skip


@pytest.mark.parametrize(("case", "make", "status"), PROBLEMS, ids=[case for case, _, _ in PROBLEMS])
def test_what_the_handler_does_not_decide_the_route_answers_and_the_connection_goes_on(
    desk: Desk, case: str, make, status: int
) -> None:
    (payload,) = desk.passes(1)
    lines_before = desk.access_lines()

    refused, admitted = raw_http.exchange(desk.port, make(desk, payload) + scan(desk, payload), answers=2)

    assert refused.status == status, (case, refused.body)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == status
    assert admitted.status == 200 and admitted.json()["decision"] == "admit", "the next request is served"
    assert desk.access_lines(lines_before + 1) >= lines_before + 1


def test_a_card_qr_a_chunked_body_and_an_api_key_are_decided_by_the_route(desk: Desk) -> None:
    first, second = desk.passes(2)
    chunked = json.dumps({"payload": first, "desk": "gate-2"}).encode()
    raw = (
        (
            f"POST {ROUTE} HTTP/1.1\r\nHost: kyso\r\nAuthorization: Bearer {desk.bearer}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + f"{len(chunked):x}\r\n".encode()
        + chunked
        + b"\r\n0\r\n\r\n"
    )
    with_card = request_bytes(desk.bearer, {"payload": second, "desk": "gate-2", "card_qr": "079..|x"})

    by_chunks, by_card = raw_http.exchange(desk.port, raw + with_card, answers=2)

    assert by_chunks.status == 200 and by_chunks.json()["decision"] == "admit"
    assert by_card.status in (200, 422), by_card.body  # the route reads the card (here: not a CCCD card QR)
    assert by_card.status != 500


def test_split_and_pipelined_requests(desk: Desk) -> None:
    first, second, third = desk.passes(3)

    (split,) = raw_http.exchange(desk.port, scan(desk, first), pieces=7)
    pipelined = raw_http.exchange(
        desk.port, scan(desk, second) + scan(desk, third) + scan(desk, second), answers=3
    )

    assert split.json()["decision"] == "admit"
    assert [a.json()["decision"] for a in pipelined] == ["admit", "admit", "deny"]
    assert [a.json()["guest"] for a in pipelined] == ["Khách số 1", "Khách số 2", "Khách số 1"]


def test_http_1_0_and_connection_close_end_the_connection(desk: Desk) -> None:
    first, second = desk.passes(2)
    closing = request_bytes(desk.bearer, {"payload": first, "desk": "gate-1"}, extra="Connection: close\r\n")
    old = request_bytes(desk.bearer, {"payload": second, "desk": "gate-1"}, version="1.0")

    for raw in (closing, old):
        (answer,) = raw_http.exchange(desk.port, raw)
        assert answer.status == 200 and answer.headers["connection"] == "close"


def test_the_audit_entry_names_the_client_or_the_client_a_trusted_proxy_forwarded(desk: Desk) -> None:
    direct, proxied, forged, untrusted = desk.passes(4)
    garbage = {"X-Forwarded-For": "<script>alert(1)</script>"}

    (first,) = raw_http.exchange(desk.port, scan(desk, direct))
    (second,) = raw_http.exchange(desk.port, scan(desk, proxied, **{"X-Forwarded-For": "203.0.113.9"}))
    (third,) = raw_http.exchange(desk.port, scan(desk, forged, **garbage))  # the trusted peer's own
    # 127.0.0.2 is this machine too, but not a trusted proxy (KYSO_TRUSTED_PROXIES): its header is ignored
    with socket.create_connection(("127.0.0.1", desk.port), 30, ("127.0.0.2", 0)) as sock:
        sock.sendall(scan(desk, untrusted, **{"X-Forwarded-For": "203.0.113.10"}))
        fourth = raw_http.read_answer(sock, bytearray())

    answers = {answer.json()["invitation_id"]: answer for answer in (first, second, third, fourth)}
    with desk.instance.db.reading() as session:
        entries = session.execute(
            select(AuditEntry.target, AuditEntry.source, AuditEntry.actor, AuditEntry.outcome).where(
                AuditEntry.action == "checkin.decide", AuditEntry.target.in_(list(answers))
            )
        ).all()
    by_invitation = {target: (source, actor, outcome) for target, source, actor, outcome in entries}
    assert by_invitation == {
        first.json()["invitation_id"]: ("127.0.0.1", desk.gate_username, "admit"),
        second.json()["invitation_id"]: ("203.0.113.9", desk.gate_username, "admit"),
        third.json()["invitation_id"]: ("127.0.0.1", desk.gate_username, "admit"),
        fourth.json()["invitation_id"]: ("127.0.0.2", desk.gate_username, "admit"),
    }


def test_many_desks_at_once_admit_each_pass_once_and_the_chain_has_no_gap(desk: Desk) -> None:
    shared, *distinct = desk.passes(61)
    desks = 12
    barrier = threading.Barrier(desks)
    decisions: list[list[str]] = [[] for _ in range(desks)]

    def gate(n: int) -> None:
        mine = [shared, *distinct[n::desks]]
        with httpx.Client(
            base_url=desk.served.url, headers={"Authorization": f"Bearer {desk.bearer}"}
        ) as client:
            barrier.wait(timeout=60)
            for payload in mine:
                answer = client.post(ROUTE, json={"payload": payload, "desk": cluster.DESKS[n % 4]})
                assert answer.status_code == 200, answer.text
                decisions[n].append(answer.json()["decision"])

    threads = [threading.Thread(target=gate, args=(n,)) for n in range(desks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    flat = [d for each in decisions for d in each]
    assert len(flat) == desks + len(distinct)
    assert flat.count("admit") == 1 + len(distinct), "the shared pass once, every other pass once"
    with desk.instance.db.reading() as session:
        per_pass = session.execute(
            select(CheckIn.invitation_id, func.count()).group_by(CheckIn.invitation_id)
        )
        assert {count for _, count in per_pass} == {1}
        assert audit.verify(session).ok
    cluster.assert_audit_linear(desk.instance)


def test_a_pass_sealed_by_a_key_registered_in_another_process_is_admitted(desk: Desk) -> None:
    (warm,) = desk.passes(1)
    raw_http.exchange(desk.port, scan(desk, warm))  # the workers have loaded the trusted keys by now
    elsewhere = instance_context(desk.instance, seal=make_seal(name="Seal of another server"))  # registers it
    payload, _ = invite(desk, elsewhere)
    time.sleep(RELOAD_KEYS_AFTER)
    lines_before = desk.access_lines()

    (answer,) = raw_http.exchange(desk.port, scan(desk, payload))

    assert answer.json()["decision"] == "admit", answer.json()
    assert desk.access_lines(lines_before + 1) == lines_before, (
        "the connection handler decided, keys reloaded"
    )


def invite(desk: Desk, context, **extra: str) -> tuple[str, str]:
    """A single-entry pass at the venue, valid now, sealed by ``context``'s seal: (QR text, invitation id)."""
    now = dt.datetime.now(VIETNAM)
    with desk.instance.db.transaction() as session:
        host = service.host_of(session, desk.official.username)  # type: ignore[attr-defined]
        created = service.create(session, context, host, InvitationInput(
            guest_name="Lê Thị Riêng", venue=cluster.VENUE, starts_at=now, ends_at=now + dt.timedelta(hours=1),
            **extra,  # type: ignore[arg-type]
        ))  # fmt: skip
    assert created.payload is not None
    return created.payload, created.id


def test_the_host_is_told_of_the_arrival_by_webhook_and_email(desk: Desk) -> None:
    payload, invitation_id = invite(
        desk, instance_context(desk.instance),
        notify_webhook="https://hooks.example.gov.vn/arrivals", notify_email="lan.pham@example.gov.vn",
    )  # fmt: skip
    lines_before = desk.access_lines()

    (answer,) = raw_http.exchange(desk.port, scan(desk, payload, gate=cluster.DESKS[2]))

    assert answer.json()["decision"] == "admit"
    assert desk.access_lines(lines_before + 1) == lines_before, "decided by the connection handler"
    with desk.instance.db.reading() as session:
        queued = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.invitation_id == invitation_id)
            .order_by(OutboxMessage.kind)
        ).all()
        assert [(m.kind, m.purpose, m.target, m.status) for m in queued] == [
            ("email", "arrival", "lan.pham@example.gov.vn", "pending"),
            ("webhook", "arrival", "https://hooks.example.gov.vn/arrivals", "pending"),
        ]
        sent = json.loads(queued[0].payload)
    assert sent["event"] == "guest.arrived" and sent["guest"] == "Lê Thị Riêng"
    assert sent["desk"] == cluster.DESKS[2] and sent["venue"] == cluster.VENUE


def test_a_desk_still_on_its_one_time_password_is_refused(desk: Desk) -> None:
    """The connection handler honours the one-time-password rule too: the route refuses with 403."""
    from identity import accounts

    with desk.instance.db.transaction() as session:
        new = accounts.create(session, desk.instance.ca.clock, username="gate.otp", role="desk",
                              display_name="gate", venue=cluster.VENUE)  # fmt: skip
    login = httpx.post(desk.served.url + "/api/v1/auth/token",
                       data={"username": "gate.otp", "password": new.one_time_password})  # fmt: skip
    assert login.status_code == 200 and login.json()["password_change_required"] is True
    (payload,) = desk.passes(1)
    (refused,) = raw_http.exchange(
        desk.port, request_bytes(login.json()["access_token"], {"payload": payload, "desk": cluster.DESKS[0]})
    )
    assert refused.status == 403 and "one-time password" in refused.json()["detail"], refused.body
    assert raw_http.exchange(desk.port, scan(desk, payload))[0].json()["decision"] == "admit", "not consumed"
