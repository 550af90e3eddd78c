"""``POST /api/v1/checkins`` answered by ``kyso serve``'s connection handler, decided in groups.

A desk's scan is a few hundred bytes and the answer a small JSON object; the application's layers
(routing, dependencies, middleware, a thread hop, a transaction of six statements) cost several times
the decision itself. So ``api.fastpath.connection`` reads a complete check-in request from the socket
(``parse``) and gives it to its process's ``Decider``, which decides every scan waiting in one
transaction on the event loop: passes verified in memory, then three pipelined round trips to
PostgreSQL (``store.checkin_groups``) — tokens and invitations; entries consumed and check-ins recorded;
audit entries appended and committed. The decision is ``invitations.checkin``'s (``plan``,
``Entering``), the audit chain ``identity.audit``'s; the answer is the route's JSON byte for byte
(``api.routers.checkins``), with the same security headers and request id, and its audit entry
``services.checkins.decision_entry``'s, the one the route writes.

Whatever is not the plain case goes to the application, untouched: API keys and cookies, a card QR to
compare, a body that is not the expected JSON, a token that does not authenticate or may not use the
desk, a desk that does not exist, a database other than PostgreSQL. (Pass-signing keys and desks this process
has not loaded yet are loaded in a thread as the route loads them; a desk account's venue is read with
its token.) The handler then hands the connection to
uvicorn with the request unread and the route answers (401, 403, 404, 422 …) as for any other request.
If a group's transaction fails (the database went away, a deadlock), nothing of it was kept and each of
its scans goes to the route the same way, which decides it alone or answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from api.fastpath.http import FOREIGN, Foreign, Head, keeps_alive, read_head
from api.metrics import process_metrics
from api.observability import sane_id
from api.routers.checkins import JSON_LIMIT, context_of
from api.security_headers import ALWAYS, NO_STORE
from core.errors import ServiceError
from identity import audit
from identity.permissions import Permission, permissions_of
from identity.sessions import API_KEY_PREFIX, digest
from invitations import checkin, notify, token
from invitations.checkin import RELOAD_KEYS_AFTER, Decision, DeskRef
from invitations.keys import KeySet
from invitations.reasons import Reason
from invitations.service import InvitationContext
from invitations.token import Verdict
from services.audit import Actor
from services.checkins import decision_entry
from services.root import Kyso
from store.checkin_groups import GroupConnection

log = logging.getLogger("kyso.checkins")
ROUTE_TEMPLATE = "/api/v1/checkins"
PATH = ROUTE_TEMPLATE.encode()
GROUP_LIMIT = 64  # scans decided in one transaction, at most
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


def match(method: bytes, path: bytes) -> bool | None:
    """The fast path's route: True for ``POST /api/v1/checkins``."""
    return True if method == b"POST" and path == PATH else None


def read(head: Head, buffer: bytes, _routed: object = True) -> CheckinRequest | Foreign | None:
    """The check-in request whose head is ``head`` starts ``buffer``; None if more bytes are needed."""
    lines = head.headers(buffer)
    if lines is None:
        return FOREIGN
    headers: dict[bytes, bytes] = {}
    for name, value in lines:
        if name in headers or name in _NOT_OURS:  # a repeated header: the application sorts it out
            return FOREIGN
        headers[name] = value
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
    size = head.end + 4 + int(length)
    if len(buffer) < size:
        return None
    body = _body(buffer[head.end + 4 : size])
    if body is None:
        return FOREIGN
    return CheckinRequest(
        credential,
        body[1],
        body[0],
        keeps_alive(head.http_1_1, headers.get(b"connection", b"").lower()),
        size,
        sane_id(headers.get(b"x-request-id")),
        headers.get(b"x-forwarded-for"),
    )


def parse(buffer: bytes) -> CheckinRequest | Foreign | None:
    """The check-in request at the start of ``buffer``: None if more bytes are needed, FOREIGN if not one."""
    head = read_head(buffer)
    if head is None or isinstance(head, Foreign):
        return head
    return read(head, buffer) if match(head.method, head.path) else FOREIGN


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
    if "\x00" in payload or "\x00" in desk:  # PostgreSQL text holds none: the route refuses it (422)
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


_SECURITY_HEADERS = b"".join(b"\r\n" + name + b": " + value for name, value in (*ALWAYS, NO_STORE))


def answer_json(decision: Decision) -> bytes:
    """The body exactly as the route's ``JSONResponse`` encodes it."""
    return json.dumps(
        decision.as_json(), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()


# --- deciding in groups -------------------------------------------------------------------------------
@dataclass
class WaitingScan:
    request: CheckinRequest
    source: str | None  # the client's address, for the audit entry
    answer: asyncio.Future[bytes | None]  # the JSON body, or None: the application is to answer
    arrived: float  # perf_counter() when the request was complete


class _HandOff(Exception):
    """The group cannot be decided here (no audit head yet); nothing was kept."""


class Decider:
    """The scans of one worker process, decided in groups on its event loop (PostgreSQL only).

    The first scan to arrive starts a task that decides every scan waiting, then those that arrived
    meanwhile, until none is left: a group per database transaction, as large as the load makes it.
    """

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.kyso: Kyso = app.state.kyso
        self.loop = loop
        self.connection = GroupConnection(self.kyso.db.libpq_url())
        self.waiting: list[WaitingScan] = []
        self.draining = False

    @classmethod
    def for_app(cls, app: Any, loop: asyncio.AbstractEventLoop) -> Decider | None:
        """A decider when the database is PostgreSQL; on SQLite (one process, no round trips) the route
        decides every scan."""
        kyso = getattr(getattr(app, "state", None), "kyso", None)
        return cls(app, loop) if kyso is not None and kyso.db.dialect == "postgresql" else None

    def submit(self, request: CheckinRequest, source: str | None) -> asyncio.Future[bytes | None]:
        answer: asyncio.Future[bytes | None] = self.loop.create_future()
        self.waiting.append(WaitingScan(request, source, answer, time.perf_counter()))
        if not self.draining:
            self.draining = True
            self.loop.create_task(self._drain())
        return answer

    async def _drain(self) -> None:
        try:
            while self.waiting:
                group, self.waiting = self.waiting[:GROUP_LIMIT], self.waiting[GROUP_LIMIT:]
                try:
                    answers = await self.decide(group)
                except _HandOff:
                    answers = [None] * len(group)
                except Exception:  # nothing of the group was kept: the route decides each scan on its own
                    log.warning(
                        "a group of %d check-ins failed; the route decides them", len(group), exc_info=True
                    )
                    answers = [None] * len(group)
                self._count(group, answers)
                for scan, answer in zip(group, answers, strict=True):
                    if not scan.answer.done():
                        scan.answer.set_result(answer)
        finally:
            self.draining = False

    def _count(self, group: Sequence[WaitingScan], answers: Sequence[bytes | None]) -> None:
        """The HTTP metrics the application's middleware keeps for the route (not for scans handed to it,
        which the middleware counts itself). The decisions are counted from the audit entries."""
        metrics, now = process_metrics(), time.perf_counter()
        answered = [scan for scan, answer in zip(group, answers, strict=True) if answer is not None]
        if answered:
            metrics.http_requests.labels("POST", ROUTE_TEMPLATE, "200").inc(len(answered))
            seconds = metrics.http_seconds.labels("POST", ROUTE_TEMPLATE)
            for scan in answered:
                seconds.observe(now - scan.arrived)

    async def decide(self, group: Sequence[WaitingScan]) -> list[bytes | None]:
        """The answers to a group: a JSON body per scan decided here, None for each left to the route."""
        answers: list[bytes | None] = [None] * len(group)
        codes = {scan.request.desk.strip() for scan in group}
        context, keys = await self._context(codes)
        now = self.kyso.clock.now()
        verdicts = [token.verify(scan.request.payload, keys, now) for scan in group]
        if any(v.reason is Reason.UNKNOWN_KEY for v in verdicts) and context.keys_older_than(
            RELOAD_KEYS_AFTER
        ):
            context.forget_keys()  # a seal registered by another process since: load the keys once more
            context, keys = await self._context(codes)
            verdicts = [token.verify(scan.request.payload, keys, now) for scan in group]
        read: list[tuple[int, DeskRef, Verdict]] = []
        for index, (scan, verdict) in enumerate(zip(group, verdicts, strict=True)):
            desk = context.peek(("desk", scan.request.desk.strip()))
            if desk is not None:  # else no such desk: the route answers 404
                read.append((index, desk, verdict))
        if not read:
            return answers
        hashes = {index: digest(group[index].request.credential) for index, _, _ in read}
        invitation_ids = {v.claims.invitation_id for _, _, v in read if v.claims is not None}
        async with await self.connection.begin() as transaction:
            tokens, invitations = await transaction.read(
                sorted(set(hashes.values())), now, sorted(invitation_ids)
            )
            scans = []
            for index, desk, verdict in read:
                username = _desk_user(tokens.get(hashes[index]), desk)
                if username is not None:  # else the route answers 401, 403
                    scans.append((index, checkin.Scan(verdict, desk, username)))
            if not scans:
                return answers  # rolled back: nothing was written
            decisions, entering = checkin.plan(context, [scan for _, scan in scans], invitations, now)
            rows = [entry.checkin_row(now) for entry in entering]
            consumed, head = await transaction.consume([e.wanted for e in entering], rows, now, audit.HEAD_ID)
            if head is None:
                raise _HandOff  # a fresh instance: the route creates the audit head
            outbox: list[dict[str, Any]] = []
            for entry, result in zip(entering, consumed, strict=True):
                if result is not None:
                    decision = entry.admitted(*result)
                    outbox += notify.arrival_messages(entry.invitation, decision.as_json(), now)
                    decisions[entry.index] = decision
            used = [entry for entry, result in zip(entering, consumed, strict=True) if result is None]
            if used:
                last = await transaction.last_checkins(sorted({entry.invitation.id for entry in used}))
                for entry in used:
                    decisions[entry.index] = entry.used(last.get((entry.invitation.id, entry.number)))
            entries = [
                audit.checked_entry(decision_entry(Actor(scan.actor, group[index].source), decision))  # type: ignore[arg-type]
                for (index, scan), decision in zip(scans, decisions, strict=True)
            ]
            records, audit_rows = audit.chain(entries, *head, now)
            await transaction.finish(audit_rows, audit.HEAD_ID, outbox)
        for record in records:
            audit.counted(record)
        for (index, _), decision in zip(scans, decisions, strict=True):
            answers[index] = answer_json(decision)
        return answers

    async def _context(self, desk_codes: set[str]) -> tuple[InvitationContext, KeySet]:
        """This process's invitation context with its trusted keys and these desks loaded — in a thread,
        as the route loads them, when they are not in memory (at start, then every 30 s)."""
        context: InvitationContext | None = self.app.state.kyso.invitations_if_built
        keys = context.cached_keys() if context is not None else None
        if (
            context is None
            or keys is None
            or any(context.peek(("desk", code)) is None for code in desk_codes)
        ):
            context, keys = await asyncio.to_thread(self._load, desk_codes)
        return context, keys

    def _load(self, desk_codes: set[str]) -> tuple[InvitationContext, KeySet]:
        context = context_of(self.app)
        with self.kyso.db.reading() as session:
            keys = context.keys(session)
            for code in desk_codes:
                with contextlib.suppress(ServiceError):  # no such desk: the route answers 404
                    checkin.desk_for(session, code, None, context)
        return context, keys


def _desk_user(account: Any, desk: DeskRef) -> str | None:
    """The username, when the token's account may check in at this desk as the route allows it."""
    if account is None or Permission.CHECKINS_CREATE not in permissions_of(account.role):
        return None
    if account.role == "desk" and account.venue != desk.venue_code:  # a desk account works at its venue
        return None
    return account.username
