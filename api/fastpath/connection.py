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
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

from uvicorn.config import Config
from uvicorn.protocols.http.auto import AutoHTTPProtocol
from uvicorn.server import ServerState

from api.fastpath import checkins as checkin_fastpath
from api.fastpath import ocsp as ocsp_fastpath
from api.fastpath.checkins import CheckinRequest, Decider
from api.fastpath.http import FOREIGN, Foreign, Head, read_head
from api.fastpath.ocsp import OcspLimit, OcspRequest, RenderedOcsp, render, timed_answer
from api.forwarded import Network, forwarded_client, trusted_networks
from api.metrics import OCSP_MISS, OCSP_TALLY
from api.observability import new_id
from ca import ocsp
from ca.ocsp_cache import CachingOcspResponder

log = logging.getLogger("kyso.ocsp")
_STATUS_LINES = {200: b"HTTP/1.1 200 OK\r\n", 429: b"HTTP/1.1 429 Too Many Requests\r\n"}
_INTERNAL_ERROR = render(ocsp.OcspAnswer(ocsp.INTERNAL_ERROR))
_CONFIG_KEY = "_kyso_fast_path"


class Route(NamedTuple):
    """One entry of the door's route table: a request the fast path answers itself."""

    name: str
    match: Callable[[bytes, bytes], Any]  # (method, raw path) -> what ``read`` needs, or None: not this route
    read: Callable[[Head, bytes, Any], Any]  # the request, None while bytes are missing, FOREIGN to hand off
    answer: Callable[[FastPathProtocol, Any], bool]  # True: the connection is free for its next request
    memo: bool  # a pure function of the bytes, worth remembering (see _PARSED)


def routes(responder: object | None, decider: Decider | None) -> tuple[Route, ...]:
    """The routes this process can answer: OCSP with a responder, check-ins with a decider."""
    table = (
        Route("ocsp", ocsp_fastpath.match, ocsp_fastpath.read, FastPathProtocol._answer_ocsp, True),
        Route("checkins", checkin_fastpath.match, checkin_fastpath.read, FastPathProtocol._check_in, False),
    )
    present = {"ocsp": responder is not None, "checkins": decider is not None}
    return tuple(route for route in table if present[route.name])


def parse(buffer: bytes, table: tuple[Route, ...]) -> tuple[Route, Any] | Foreign | None:
    """The routed request at the start of ``buffer``: None if more bytes are needed, FOREIGN for uvicorn."""
    head = read_head(buffer)
    if head is None or isinstance(head, Foreign):
        return head
    for route in table:
        routed = route.match(head.method, head.path)
        if routed is not None:
            request = route.read(head, buffer, routed)
            return request if request is None or isinstance(request, Foreign) else (route, request)
    return FOREIGN


# A relying party's software sends the same bytes for the same certificate every time: parsing them once
# is enough. Parsing is a pure function of the bytes; the memo keeps requests of ordinary size only (an
# OCSP request with its headers is a few hundred bytes), at most 10,000 of them, and is forgotten when full.
_PARSED: dict[bytes, tuple[Route, Any]] = {}
_PARSED_LIMIT = 10_000
_MEMO_MAX_BYTES = 2048


def _remember(raw: bytes, routed: tuple[Route, Any]) -> None:
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[raw] = routed


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
    ocsp_limit: OcspLimit | None  # the per-client limit on OCSP cache misses
    routes: tuple[Route, ...]


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
            responder, decider = responder_of(app), Decider.for_app(app, loop)
            found = _PerProcess(
                loop,
                responder,
                decider,
                _trusted_proxies(app),
                _IdleSweeper(loop, config.timeout_keep_alive, server_state),
                getattr(getattr(app, "state", None), "ocsp_limit", None),
                routes(responder, decider),
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
        """Answer each complete request at the start of the buffer whose route is in the table; hand the
        connection to uvicorn at the first that is not."""
        while self.buffer and self.transport is not None:
            routed = _PARSED.get(self.buffer)
            if routed is None:
                found = parse(self.buffer, self.shared.routes)
                if found is None:
                    return  # more bytes to come
                if isinstance(found, Foreign):
                    self._hand_off()
                    return
                routed = found
                if routed[0].memo and routed[1].size == len(self.buffer) <= _MEMO_MAX_BYTES:
                    _remember(self.buffer, routed)
            route, request = routed
            if not route.answer(self, request):
                return

    def _answer_ocsp(self, request: OcspRequest) -> bool:
        """Answer from the cache, or start the full responder in a thread (False: busy until it answers)."""
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
            return False
        OCSP_TALLY[rendered.tally] += 1  # a plain int; api.metrics folds it into Prometheus
        return self._write(request, rendered)

    def _check_in(self, scan: CheckinRequest) -> bool:
        """Give the scan to the process's decider (busy until it answers; the request stays in the buffer
        until then, for uvicorn should the decider hand it over)."""
        decider = self.shared.decider
        assert decider is not None
        self.busy = True
        self.idle_since = None
        answer = decider.submit(scan, self._client_host(scan.forwarded_for))
        answer.add_done_callback(functools.partial(self._checked_in, scan))
        return False

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
        self, request: OcspRequest, future: Future[RenderedOcsp] | asyncio.Future[RenderedOcsp]
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

    def _write(self, request: OcspRequest, rendered: RenderedOcsp) -> bool:
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
