"""OCSP over HTTP: answers ``/ocsp/…`` from memory when it can.

Two doors share what is here:
- ``api.fastpath.connection``, the connection handler ``kyso serve`` runs, answers an OCSP request straight
  from the socket (``match``, ``read``) without building an ASGI request at all;
- the ``/ocsp`` routes of ``api.routers.status`` (``answer``) give the same answers under any other ASGI
  server and the TestClient, and document the endpoint in OpenAPI.

Both decode the two URL shapes of RFC 6960 appendix A (POST ``/ocsp/{ca}``, GET ``/ocsp/{ca}/{base64}``),
ask ``ca.ocsp_cache`` for an answer from memory, and otherwise run the full responder in a thread. What
cannot be decoded is answered with malformedRequest, never an HTTP error. Each answer is rendered once,
with the headers RFC 5019 §6.2 asks for on GET (Last-Modified = producedAt, Expires = nextUpdate, ETag,
Cache-Control: max-age, public, no-transform, must-revalidate); POST answers are not for HTTP caches.

Requests that reach the full responder count against the client's ``KYSO_OCSP_RATE_PER_MINUTE``
(``OcspLimit``, the database-backed limit of ``api.ratelimit``); over it: 429, Retry-After, tryLater.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from cryptography.x509 import ocsp as x509_ocsp
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api import ratelimit
from api.fastpath.http import FOREIGN, Foreign, Head, keeps_alive, read_head
from api.metrics import OCSP_MISS, OCSP_TALLY, ocsp_status_index, process_metrics
from ca import ocsp
from ca.ocsp_cache import CachingOcspResponder
from core import metrics
from core.errors import ServiceError
from services.root import Kyso

OCSP_RESPONSE = b"application/ocsp-response"
PREFIX = b"/ocsp/"
# How long an HTTP cache may keep a GET answer (never past nextUpdate): a status change reaches relying
# parties behind a shared cache within this time; the response itself stays valid until nextUpdate.
HTTP_MAX_AGE = 300


@dataclass(frozen=True, slots=True)
class RenderedOcsp:
    """An OCSP answer as HTTP: the body, and header lines for GET and POST (without the per-request ones)."""

    body: bytes
    next_update: float | None  # POSIX time; set for pre-produced answers, which HTTP caches may keep
    get_headers: tuple[tuple[bytes, bytes], ...]
    post_headers: tuple[tuple[bytes, bytes], ...]
    get_head: bytes  # get_headers as "Name: value\r\n" lines
    post_head: bytes
    tally: int = 0  # its status's slot in api.metrics.OCSP_TALLY (hits; misses at + OCSP_MISS)
    status: int = 200  # HTTP status: 200, or 429 for a client over its rate limit (a tryLater body)

    def cache_control(self, get: bool, now: float) -> bytes:
        if not get or self.next_update is None:
            return b"no-cache"
        max_age = max(0, min(HTTP_MAX_AGE, int(self.next_update - now)))
        return b"max-age=%d, public, no-transform, must-revalidate" % max_age

    def asgi_headers(self, get: bool, now: float) -> list[tuple[bytes, bytes]]:
        headers = list(self.get_headers if get else self.post_headers)
        headers.append((b"cache-control", self.cache_control(get, now)))
        return headers


def render(answer: ocsp.OcspAnswer) -> RenderedOcsp:
    common = ((b"content-type", OCSP_RESPONSE), (b"content-length", b"%d" % len(answer.der)))
    get_headers = common
    next_update = None
    if answer.pre_produced and answer.next_update is not None:
        next_update = answer.next_update.timestamp()
        # producedAt as signed (the builder takes the wall clock as it signs), not as the store has it
        produced_at = x509_ocsp.load_der_ocsp_response(answer.der).produced_at_utc
        get_headers = (
            *common,
            (b"last-modified", _http_date(produced_at.timestamp())),
            (b"expires", _http_date(next_update)),
            (b"etag", b'"%s"' % hashlib.sha256(answer.der).hexdigest()[:32].encode()),
        )
    return RenderedOcsp(
        answer.der, next_update, get_headers, common, _lines(get_headers), _lines(common),
        ocsp_status_index(answer.der),
    )  # fmt: skip


def rate_limited(retry_after: int) -> RenderedOcsp:
    """429 with Retry-After, and the OCSP answer that means the same (tryLater) for clients that only
    read the body."""
    headers = (
        (b"content-type", OCSP_RESPONSE),
        (b"content-length", b"%d" % len(ocsp.TRY_LATER)),
        (b"retry-after", b"%d" % retry_after),
    )
    lines = _lines(headers)
    return RenderedOcsp(
        ocsp.TRY_LATER, None, headers, headers, lines, lines, ocsp_status_index(ocsp.TRY_LATER), 429
    )


class OcspLimit:
    """The per-client limit on OCSP requests the in-memory cache cannot answer (a nonce, a miss): each
    costs a database read and usually a signature. Answers from memory are not counted: they cost less
    than the database write that counting them would."""

    def __init__(self, kyso: Kyso) -> None:
        self.kyso = kyso

    def refusal(self, address: str | None) -> RenderedOcsp | None:
        """None if the client may be answered; else its 429 (blocking: a thread).

        A database that cannot count cannot answer either: the responder is let through and answers
        tryLater itself, as every OCSP error is answered (HTTP 200), rather than this turning into a 500."""
        rate = self.kyso.settings.ocsp_rate_per_minute
        try:
            verdict = ratelimit.take(self.kyso, ratelimit.OCSP_SCOPE, rate, address)
        except ServiceError:
            return None
        if verdict.allowed:
            return None
        metrics.count("ratelimit.refused", scope=ratelimit.OCSP_SCOPE)
        return rate_limited(verdict.retry_after)


def _http_date(timestamp: float) -> bytes:
    return email.utils.formatdate(timestamp, usegmt=True).encode()


def _lines(headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def route(method: str, path: bytes) -> tuple[str, bytes | None] | None:
    """(authority, the encoded request of a GET or None for a POST) for an OCSP URL, else None.

    ``path`` is the raw (still percent-encoded) path without its query.
    """
    if not path.startswith(PREFIX):
        return None
    authority, slash, encoded = path[len(PREFIX) :].partition(b"/")
    if not authority or b"\x00" in authority:  # a raw NUL (no HTTP parser lets one through): not ours
        return None
    if method == "POST" and not slash:
        return authority.decode("latin-1"), None
    if method == "GET" and encoded:
        return authority.decode("latin-1"), encoded
    return None


class OcspRequest(NamedTuple):
    """An OCSP request read from the socket by ``api.fastpath.connection``."""

    authority: str
    der: bytes | None  # None: not decodable, answered with malformedRequest
    get: bool
    keep_alive: bool
    size: int  # bytes of the buffer it took
    forwarded_for: bytes | None = None  # X-Forwarded-For, for the rate limit's client behind a proxy


# Headers that make a request the application's business: its body framing or a change of protocol.
_NOT_OURS = frozenset({b"transfer-encoding", b"expect", b"upgrade"})


def match(method: bytes, path: bytes) -> tuple[str, bytes | None] | None:
    """The fast path's route: ``route`` for a POST or GET head."""
    if method == b"POST":
        return route("POST", path)
    if method == b"GET":
        return route("GET", path)
    return None


def read(head: Head, buffer: bytes, routed: tuple[str, bytes | None]) -> OcspRequest | Foreign | None:
    """The OCSP request whose head is ``head`` at the start of ``buffer``; None if more bytes are needed."""
    lines = head.headers(buffer)
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
        size = head.end + 4 + length
        if len(buffer) < size:
            return None
        der: bytes | None = buffer[head.end + 4 : size]
    else:
        if length:
            return FOREIGN
        size = head.end + 4
        der = decode_get(encoded)
    keep_alive = keeps_alive(head.http_1_1, connection)
    return OcspRequest(authority, der, encoded is not None, keep_alive, size, forwarded_for)


def parse(buffer: bytes) -> OcspRequest | Foreign | None:
    """The OCSP request at the start of ``buffer``: None if more bytes are needed, FOREIGN if not one."""
    head = read_head(buffer)
    if head is None or isinstance(head, Foreign):
        return head
    routed = match(head.method, head.path)
    return FOREIGN if routed is None else read(head, buffer, routed)


def decode_get(encoded: bytes | str) -> bytes | None:
    """The DER request of a GET (percent-encoded base64, standard or URL-safe alphabet), None if it is not."""
    text = unquote_to_bytes(encoded)
    if len(text) > ocsp.MAX_REQUEST_BYTES * 2:
        return None
    try:
        return base64.b64decode(
            text + b"=" * (-len(text) % 4), altchars=b"-_" if b"-" in text or b"_" in text else None
        )
    except (binascii.Error, ValueError):
        return None


async def answer(
    responder: CachingOcspResponder[RenderedOcsp],
    authority: str,
    der: bytes | None,
    limit: OcspLimit | None,
    client: str | None,
) -> RenderedOcsp:
    """The answer an ASGI request gets (the ``/ocsp`` routes): from memory when it can, else the full
    responder in a thread, counted as the connection handler counts its own."""
    if der is None:
        rendered = responder.malformed
    else:
        found = responder.lookup(authority, der)
        if found is None:
            rendered = await run_in_threadpool(timed_answer, responder, authority, der, limit, client)
            OCSP_TALLY[rendered.tally + OCSP_MISS] += 1
            return rendered
        rendered = found
    OCSP_TALLY[rendered.tally] += 1
    return rendered


def timed_answer(
    responder: CachingOcspResponder[RenderedOcsp],
    authority: str,
    der: bytes,
    limit: OcspLimit | None = None,
    client: str | None = None,
) -> RenderedOcsp:
    """The full responder's answer (a cache miss; in a thread), its time kept in a histogram; a 429 for
    a client over ``limit``."""
    if limit is not None and (refused := limit.refusal(client)) is not None:
        return refused
    with process_metrics().ocsp_seconds.time():
        return responder.answer(authority, der)


def install(app: FastAPI) -> None:
    """Build the per-process OCSP cache and the limit on its misses, for the routes and the connection
    handler."""
    kyso = app.state.kyso
    app.state.ocsp = CachingOcspResponder(
        ocsp.OcspResponder(kyso.ca, kyso.delegated_signers), kyso.db, kyso.status_versions, render
    )
    app.state.ocsp_limit = OcspLimit(kyso)
