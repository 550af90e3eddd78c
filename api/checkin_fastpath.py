"""``POST /api/v1/checkins`` answered by ``kyso serve``'s connection handler, decisions committed in groups.

A desk's scan is a few hundred bytes and the answer a small JSON object; the application's layers
(routing, dependencies, middleware, a thread hop and two transactions) cost several times the decision
itself. So ``api.fast_protocol`` reads a complete check-in request from the socket (``parse``) and gives
it to this process's ``Decider``: one thread with one database session that takes every scan waiting and
decides them in one transaction — authenticate the bearer tokens, find the desks, read the passes, consume
the entries in invitation order, append the audit entries, commit once. The answer has the same JSON as
the application's route (``api.routers.checkins``), and the same security headers and request id.

Whatever is not the plain case goes to the application, untouched: API keys and cookies, a card QR to
compare, an unknown desk or a desk of another venue, a token that does not authenticate, a body that is
not the expected JSON — the handler then hands the connection to uvicorn with the request unread, and the
route answers (401, 403, 404, 422 …) as for any other request. If the group's transaction fails (the
database went away, a deadlock), nothing of it was kept and each of its scans goes to the route the same
way, which decides it alone or answers 503.

Order of locks: each transaction consumes entries sorted by invitation and occurrence, then takes the
audit head last, as a single decision does — so groups decided at once by several workers never wait on
each other in a cycle, and N desks scanning one single-entry pass still admit it exactly once.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from api.metrics import process_metrics
from api.routers.checkins import JSON_LIMIT, context_of, desk_venue_of
from api.security_headers import ALWAYS
from ca.runtime import CaRuntime
from core.errors import ServiceError
from identity import audit
from identity.permissions import Permission
from identity.sessions import API_KEY_PREFIX, Principal, authenticate
from invitations import checkin
from invitations.checkin import Decision, DeskRef
from invitations.service import InvitationContext

log = logging.getLogger("kyso.checkins")
ROUTE = b"POST /api/v1/checkins HTTP/1."
MAX_HEAD = 8 * 1024
GROUP_LIMIT = 64  # scans decided in one transaction, at most
_HEADER_LINE = re.compile(rb"\r\n([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*(?=\r\n)")
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Headers that make a request the application's business (its body framing, or its own auth or parsing)
_NOT_OURS = frozenset({b"transfer-encoding", b"expect", b"upgrade", b"cookie"})
_JSON = (b"", b"application/json", b"application/json; charset=utf-8")


class CheckinRequest(NamedTuple):
    credential: str  # the bearer token
    desk: str
    payload: str
    keep_alive: bool
    size: int  # bytes of the buffer it took
    request_id: bytes | None  # the caller's X-Request-Id, when sane
    forwarded_for: bytes | None  # X-Forwarded-For, for the audit entry's source behind a proxy


class _Foreign:
    """A request this handler leaves to the application."""


FOREIGN = _Foreign()


def parse(buffer: bytes) -> CheckinRequest | _Foreign | None:
    """The check-in request at the start of ``buffer``; None if more bytes are needed."""
    if not buffer.startswith(ROUTE):
        return None if ROUTE.startswith(buffer) else FOREIGN
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return None if len(buffer) < MAX_HEAD else FOREIGN
    line_end = buffer.find(b"\r\n")
    version = buffer[len(ROUTE) : line_end]  # the minor version
    if version not in (b"1", b"0"):
        return FOREIGN
    head = buffer[line_end : end + 2]
    headers: dict[bytes, bytes] = {}
    lines = 0
    for name, value in _HEADER_LINE.findall(head):
        name = name.lower()
        if name in headers or name in _NOT_OURS:  # a repeated header: the application sorts it out
            return FOREIGN
        headers[name] = value
        lines += 1
    if lines != head.count(b"\r\n") - 1:  # a line the pattern did not take (folded, malformed)
        return FOREIGN
    authorization = headers.get(b"authorization", b"")
    length = headers.get(b"content-length", b"")
    if (
        authorization[:7].lower() != b"bearer "
        or not length.isdigit()
        or int(length) > JSON_LIMIT
        or headers.get(b"content-type", b"").lower() not in _JSON
    ):
        return FOREIGN
    credential = authorization[7:].strip().decode("latin-1")
    if not credential or credential.startswith(API_KEY_PREFIX):
        return FOREIGN
    size = end + 4 + int(length)
    if len(buffer) < size:
        return None
    body = _body(buffer[end + 4 : size])
    if body is None:
        return FOREIGN
    connection = headers.get(b"connection", b"").lower()
    keep_alive = b"close" not in connection if version == b"1" else b"keep-alive" in connection
    request_id = headers.get(b"x-request-id")
    return CheckinRequest(
        credential,
        body[1],
        body[0],
        keep_alive,
        size,
        request_id if request_id is not None and _SANE_ID.fullmatch(request_id) else None,
        headers.get(b"x-forwarded-for"),
    )


def _body(raw: bytes) -> tuple[str, str] | None:
    """(payload, desk) from the JSON body the route accepts without a card QR; None for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not set(data) <= {"payload", "desk", "card_qr"}:
        return None
    payload, desk = data.get("payload"), data.get("desk")
    if data.get("card_qr") is not None or not isinstance(payload, str) or not isinstance(desk, str):
        return None
    if len(payload) > 4000 or not 1 <= len(desk) <= 40:
        return None
    return payload, desk


def render(body: bytes, request_id: bytes, keep_alive: bool, date: bytes) -> bytes:
    """The HTTP answer: the route's JSON with the headers the application's middleware would add."""
    return b"".join(
        (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            _SECURITY_HEADERS,
            b"\r\nx-request-id: ",
            request_id,
            b"\r\ndate: ",
            date,
            b"\r\nconnection: keep-alive\r\n\r\n" if keep_alive else b"\r\nconnection: close\r\n\r\n",
            body,
        )
    )


_SECURITY_HEADERS = b"".join(b"\r\n" + name + b": " + value for name, value in ALWAYS)


def answer_json(decision: Decision) -> bytes:
    """The body exactly as the route's ``JSONResponse`` encodes it."""
    return json.dumps(
        decision.as_json(), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


# --- deciding in groups -------------------------------------------------------------------------------
@dataclass
class Scan:
    request: CheckinRequest
    source: str | None  # the client's address, for the audit entry
    answer: Future[bytes | None]  # the JSON body, or None: the application is to answer
    arrived: float  # perf_counter() when the request was complete


class Decider:
    """One thread per process deciding the scans that arrive, as many as are waiting, in one transaction."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.runtime: CaRuntime = app.state.runtime
        self.waiting: queue.SimpleQueue[Scan] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="kyso-checkins", daemon=True)
        self.thread.start()

    def submit(self, request: CheckinRequest, source: str | None) -> Future[bytes | None]:
        answer: Future[bytes | None] = Future()
        self.waiting.put(Scan(request, source, answer, time.perf_counter()))
        return answer

    def _run(self) -> None:
        while True:
            group = [self.waiting.get()]
            while len(group) < GROUP_LIMIT:
                try:
                    group.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = self.decide(group)
            except Exception:  # nothing of the group was kept: the route decides each scan on its own
                log.warning(
                    "a group of %d check-ins failed; the route decides them", len(group), exc_info=True
                )
                answers = [None] * len(group)
            self._count(group, answers)
            for scan, answer in zip(group, answers, strict=True):
                scan.answer.set_result(answer)

    def _count(self, group: Sequence[Scan], answers: Sequence[bytes | None]) -> None:
        """The HTTP metrics the application's middleware keeps for the route (not for scans handed to it,
        which the middleware counts itself). The decisions are counted from the audit entries."""
        metrics, now = process_metrics(), time.perf_counter()
        answered = [scan for scan, answer in zip(group, answers, strict=True) if answer is not None]
        if answered:
            metrics.http_requests.labels("POST", "/api/v1/checkins", "200").inc(len(answered))
            seconds = metrics.http_seconds.labels("POST", "/api/v1/checkins")
            for scan in answered:
                seconds.observe(now - scan.arrived)

    def decide(self, group: Sequence[Scan]) -> list[bytes | None]:
        context = context_of(self.app)
        clock = self.runtime.ca.clock
        answers: list[bytes | None] = [None] * len(group)
        with self.runtime.db.transaction() as session:
            now = clock.now()
            principals: dict[str, Principal | None] = {}
            ready: list[tuple[int, Principal, checkin.Scan]] = []
            for index, scan in enumerate(group):
                request = scan.request
                if request.credential not in principals:
                    principals[request.credential] = _principal(session, clock, request.credential)
                principal = principals[request.credential]
                desk = _desk(session, context, principal, request.desk) if principal is not None else None
                if principal is None or desk is None:
                    continue  # the route answers 401/403/404
                verdict = checkin.read_pass(session, context, request.payload, now)
                ready.append((index, principal, checkin.Scan(verdict, desk, principal.username)))
            # the entries first (in invitation order, see the module's text), the audit head last
            decisions = checkin.decide_all(session, context, [scan for _, _, scan in ready], now)
            audit.append_all(
                session,
                clock=clock,
                entries=[
                    _audit_entry(principal, group[index].source, decision)
                    for (index, principal, _), decision in zip(ready, decisions, strict=True)
                ],
            )
            for (index, _, _), decision in zip(ready, decisions, strict=True):
                answers[index] = answer_json(decision)
        return answers


def _principal(session: Session, clock: Any, credential: str) -> Principal | None:
    try:
        principal = authenticate(session, clock, credential, via="bearer")
    except ServiceError:
        return None
    return principal if principal.can(Permission.CHECKINS_CREATE) else None


def _desk(session: Session, context: InvitationContext, principal: Principal, code: str) -> DeskRef | None:
    try:
        return checkin.desk_for(session, code, desk_venue_of(session, principal, context), context)
    except ServiceError:
        return None


def _audit_entry(principal: Principal, source: str | None, decision: Decision) -> audit.Entry:
    """The entry the route writes for a decision (``api.routers.checkins``)."""
    return audit.Entry(
        actor=principal.username,
        action="checkin.decide",
        target=decision.invitation_id,
        outcome="admit" if decision.admitted else "deny",
        source=source,
        details=decision.audit_details(),
    )
