"""``kyso serve``'s connection handler: OCSP requests and desk check-ins answered straight from the socket,
the rest by uvicorn.

A relying party's OCSP request is a few hundred bytes on a new connection; building an ASGI request,
a task and a response object for it costs several times what answering it from memory does. So each
new connection is first read here. A complete ``POST /ocsp/{ca}`` or ``GET /ocsp/{ca}/{base64}`` is
answered from ``ca.ocsp_cache`` (or, on a miss, by the full responder in a thread) and written back in
one write, with the same bytes and headers as ``api.fastpath.ocsp``. Anything else — another path,
chunked bodies, ``Expect``, upgrades, oversized heads or bodies — hands the connection, with every byte
read so far, to uvicorn's own HTTP protocol at a request boundary, the way uvicorn itself switches a
connection to its WebSocket or HTTP/2 protocol; the application sees it as any other connection.

A complete ``POST /api/v1/checkins`` with a bearer token and the plain JSON body goes to this process's
check-in ``Decider`` (``api.fastpath.checkins``), which decides the scans waiting in one transaction; when
it cannot (bad credentials, an unknown desk …) the connection is handed over with the request unread.

Keep-alive follows HTTP: HTTP/1.1 stays open unless the client says ``Connection: close``, HTTP/1.0
closes unless it says ``keep-alive``; an idle connection closes after uvicorn's keep-alive timeout. No
access-log line is written for these requests.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import time
from concurrent.futures import Future
from typing import Any, NamedTuple

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from api.fastpath import checkins as checkin_fastpath
from api.fastpath.checkins import CheckinRequest, Decider
from api.fastpath.http import FOREIGN, MAX_HEAD, Foreign, header_lines, keeps_alive
from api.fastpath.ocsp import OcspLimit, RenderedOcsp, decode_get, render, route, timed_answer
from api.forwarded import Network, forwarded_client, trusted_networks
from api.metrics import OCSP_MISS, OCSP_TALLY
from api.observability import new_id
from ca import ocsp
from ca.ocsp_cache import CachingOcspResponder

log = logging.getLogger("kyso.ocsp")
# Headers that make a request the application's business: its body framing or a change of protocol.
_NOT_OURS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})
_STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 429: b"HTTP/1.1 429 Too Many Requests\r\n"}
_INTERNAL_ERROR = render(ocsp.OcspAnswer(ocsp.INTERNAL_ERROR))
_CONFIG_KEY = "_kyso_fast_path"


class _Request(NamedTuple):
    authority: str
    der: bytes | None  # None: not decodable, answered with malformedRequest
    get: bool
    keep_alive: bool
    size: int  # bytes of the buffer it took
    forwarded_for: bytes | None = None  # X-Forwarded-For, for the rate limit's client behind a proxy


def parse(buffer: bytes) -> _Request | Foreign | None:
    """The OCSP request at the start of ``buffer``; None if more bytes are needed."""
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD)
    if end < 0:
        return None if len(buffer) < MAX_HEAD else FOREIGN
    line_end = buffer.find(b"\r\n", 0, end + 2)
    parts = buffer[:line_end].split(b" ")
    if len(parts) != 3:
        return FOREIGN
    method, target, version = parts
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or method not in (b"POST", b"GET"):
        return FOREIGN
    routed = route(method.decode(), target.partition(b"?")[0])
    if routed is None:
        return FOREIGN
    lines = header_lines(buffer[line_end : end + 2])
    if lines is None:
        return FOREIGN
    length: int | None = None
    connection = b""
    forwarded_for: bytes | None = None
    for name, value in lines:
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return FOREIGN
            length = int(value)
        elif name == b"connection":
            connection = value.lower()
        elif name == b"x-forwarded-for":  # several lines are one comma-separated list (RFC 9110 §5.3)
            forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
        elif name in _NOT_OURS:
            return FOREIGN
    authority, encoded = routed
    if encoded is None:  # POST: the body is the request, announced by Content-Length
        if length is None or length > ocsp.MAX_REQUEST_BYTES:
            return FOREIGN
        size = end + 4 + length
        if len(buffer) < size:
            return None
        der: bytes | None = buffer[end + 4 : size]
    else:
        if length:
            return FOREIGN
        size = end + 4
        der = decode_get(encoded)
    return _Request(
        authority, der, encoded is not None, keeps_alive(version == b"HTTP/1.1", connection), size,
        forwarded_for,
    )  # fmt: skip


# A relying party's software sends the same bytes for the same certificate every time: parsing them once
# is enough. Parsing is a pure function of the bytes; the memo keeps requests of ordinary size only (an
# OCSP request with its headers is a few hundred bytes), at most 10,000 of them, and is forgotten when full.
_PARSED: dict[bytes, _Request] = {}
_PARSED_LIMIT = 10_000
_MEMO_MAX_BYTES = 2048


def _remember(raw: bytes, request: _Request) -> None:
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[raw] = request


def application_of(app: Any) -> Any:
    """Kyso's FastAPI application (the one holding ``Kyso``), through uvicorn's wrappers."""
    while app is not None:
        if getattr(getattr(app, "state", None), "kyso", None) is not None:
            return app
        app = getattr(app, "app", None)
    return None


def _trusted_proxies(app: Any) -> tuple[Network, ...]:
    """KYSO_TRUSTED_PROXIES of Kyso's application (none without one)."""
    kyso = getattr(getattr(application_of(app), "state", None), "kyso", None)
    return trusted_networks(kyso.settings.trusted_proxies) if kyso is not None else ()


def responder_of(app: Any) -> CachingOcspResponder[RenderedOcsp] | None:
    """The OCSP cache ``api.fastpath.ocsp.install`` put on the app."""
    return getattr(getattr(application_of(app), "state", None), "ocsp", None)


class _PerProcess(NamedTuple):
    """What every connection of one worker shares, found once for uvicorn's Config and loop."""

    loop: asyncio.AbstractEventLoop
    responder: CachingOcspResponder[RenderedOcsp] | None
    decider: Decider | None
    proxies: tuple[Network, ...]  # KYSO_TRUSTED_PROXIES
    sweeper: _IdleSweeper
    ocsp_limit: OcspLimit | None = None  # the per-client limit on OCSP cache misses


class FastPathProtocol(asyncio.Protocol):
    """A protocol for uvicorn (``http=``): OCSP and check-ins here, the rest to uvicorn's own protocol."""

    __slots__ = (
        "app_state", "buffer", "busy", "closing", "config", "idle_since", "loop", "server_state", "shared",
        "transport",
    )  # fmt: skip

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = loop = _loop or asyncio.get_event_loop()
        # uvicorn's Config and loop are per process: what is found for them once is remembered on the config
        found = config.__dict__.get(_CONFIG_KEY)
        if found is None or found.loop is not loop:
            app = application_of(config.loaded_app)
            found = _PerProcess(
                loop,
                responder_of(app),
                Decider.for_app(app, loop),
                _trusted_proxies(app),
                _IdleSweeper(loop, config.timeout_keep_alive, server_state),
                getattr(getattr(app, "state", None), "ocsp_limit", None),
            )
            config.__dict__[_CONFIG_KEY] = found
        self.shared: _PerProcess = found
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False  # an answer is being produced (a thread, the decider); later requests wait
        self.closing = False
        self.idle_since: float | None = None  # loop time since when nothing is in progress

    # -- asyncio.Protocol ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.server_state.connections.add(self)
        self.idle_since = self.loop.time()
        self.shared.sweeper.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        if not self.busy:
            self._serve()

    def eof_received(self) -> bool | None:
        return True if self.busy else None  # keep the socket open until the answer in progress is written

    def shutdown(self) -> None:
        """Called by uvicorn on a graceful shutdown."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # -- requests --------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while self.buffer and self.transport is not None:
            request = _PARSED.get(self.buffer)
            if request is None:
                request = parse(self.buffer) if self.shared.responder is not None else FOREIGN
                if request is None:
                    return
                if isinstance(request, Foreign):
                    self._not_ocsp()
                    return
                if request.size == len(self.buffer) <= _MEMO_MAX_BYTES and request.der is not None:
                    _remember(self.buffer, request)
            self.buffer = self.buffer[request.size :]
            self.server_state.total_requests += 1
            responder = self.shared.responder
            assert responder is not None
            if request.der is None:
                rendered: RenderedOcsp | None = responder.malformed
            else:
                rendered = responder.lookup(request.authority, request.der)
            if rendered is None:  # the full responder, off the event loop
                self.busy = True
                self.idle_since = None
                client, limit = self._client_host(request.forwarded_for), self.shared.ocsp_limit
                future = self.loop.run_in_executor(
                    None, timed_answer, responder, request.authority, request.der, limit, client
                )
                future.add_done_callback(functools.partial(self._answered, request))
                return
            OCSP_TALLY[rendered.tally] += 1  # a plain int; api.metrics folds it into Prometheus
            if not self._write(request, rendered):
                return

    def _not_ocsp(self) -> None:
        """A check-in for the decider, or anything else for uvicorn."""
        decider = self.shared.decider
        scan = checkin_fastpath.parse(self.buffer) if decider is not None else FOREIGN
        if scan is None:
            return  # more bytes to come
        if isinstance(scan, CheckinRequest):
            assert decider is not None
            self.busy = True
            self.idle_since = None
            answer = decider.submit(scan, self._client_host(scan.forwarded_for))
            answer.add_done_callback(functools.partial(self._checked_in, scan))
            return
        self._hand_off()

    def _checked_in(self, scan: CheckinRequest, done: asyncio.Future[bytes | None]) -> None:
        self.busy = False
        if self.transport is None:
            return  # the desk hung up; the decision stands in the database and the audit log
        body = done.result()
        if body is None:  # the application answers this one (401, 404, 503 …): hand over, request unread
            self._hand_off()
            return
        self.buffer = self.buffer[scan.size :]
        self.server_state.total_requests += 1
        keep_alive = scan.keep_alive and not self.closing
        date = _http_date(int(time.time()))
        request_id = scan.request_id or new_id().encode()
        if self._send(checkin_fastpath.render(body, request_id, keep_alive, date), keep_alive):
            self._serve()

    def _client_host(self, forwarded_for: bytes | None) -> str | None:
        """The client's address as the application would see it (api.forwarded's rule)."""
        assert self.transport is not None
        peer = self.transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else None
        forwarded = forwarded_for.decode("latin-1") if forwarded_for is not None else None
        return forwarded_client(host, forwarded, self.shared.proxies)

    def _answered(
        self, request: _Request, future: Future[RenderedOcsp] | asyncio.Future[RenderedOcsp]
    ) -> None:
        self.busy = False
        try:
            rendered = future.result()
        except Exception:  # the responder answers everything itself; this is a bug, not a client's fault
            log.exception("OCSP answer failed")
            rendered = _INTERNAL_ERROR
        OCSP_TALLY[rendered.tally + OCSP_MISS] += 1
        if self.transport is not None and self._write(request, rendered):
            self._serve()

    def _write(self, request: _Request, rendered: RenderedOcsp) -> bool:
        """Send the answer; True if the connection stays open for another request."""
        assert self.transport is not None
        now = time.time()
        keep_alive = request.keep_alive and not self.closing
        return self._send(
            b"".join(
                (
                    _STATUS_LINES[rendered.status],
                    rendered.get_head if request.get else rendered.post_head,
                    b"cache-control: ",
                    rendered.cache_control(request.get, now),
                    b"\r\ndate: ",
                    _http_date(int(now)),
                    b"\r\nconnection: keep-alive\r\n\r\n" if keep_alive else b"\r\nconnection: close\r\n\r\n",
                    rendered.body,
                )
            ),
            keep_alive,
        )

    def _send(self, answer: bytes, keep_alive: bool) -> bool:
        """Write an answer; True if the connection stays open for another request."""
        assert self.transport is not None
        self.transport.write(answer)
        if not keep_alive:
            self.transport.close()
            return False
        self.idle_since = self.loop.time()
        return True

    def _hand_off(self) -> None:
        """Give the connection, with what was read of it, to uvicorn's HTTP protocol."""
        transport = self.transport
        assert transport is not None
        self.server_state.connections.discard(self)
        protocol = AutoHTTPProtocol(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.app_state, _loop=self.loop
        )
        protocol.connection_made(transport)
        transport.set_protocol(protocol)
        buffer, self.buffer, self.transport = self.buffer, b"", None
        protocol.data_received(buffer)

    def timed_out(self) -> None:
        if not self.busy and self.transport is not None:
            self.transport.close()


class _IdleSweeper:
    """Closes connections idle (or stuck in an incomplete request) for longer than the keep-alive timeout.

    One timer per event loop, looking over uvicorn's set of open connections, instead of a timer armed and
    cancelled per connection.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, server_state: ServerState) -> None:
        self.loop = loop
        self.timeout = timeout
        self.connections = server_state.connections
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.handle is None:
            self.handle = self.loop.call_later(self.timeout / 2, self._sweep)

    def _sweep(self) -> None:
        oldest = self.loop.time() - self.timeout
        ours = [p for p in self.connections if isinstance(p, FastPathProtocol)]
        for protocol in ours:
            if protocol.idle_since is not None and protocol.idle_since < oldest:
                protocol.timed_out()
        self.handle = self.loop.call_later(self.timeout / 2, self._sweep) if ours else None


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> bytes:
    return email.utils.formatdate(second, usegmt=True).encode()
