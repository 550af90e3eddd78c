"""Pre-produced OCSP answers kept in process memory, in front of ``ca.ocsp.OcspResponder``.

The hot path of a responder at a large CA is a lookup and a write: the response for a certificate was
produced (and signed) beforehand, and the same bytes go to everyone who asks until a fresher one exists.
``lookup`` is that path: the request's exact bytes, or its CertID (hash algorithm, issuer name and key
hashes, serial), find the answer kept from an earlier request; no session, no signature.

It stays correct because of one cheap read per answered request: the issuing authority's status version
(``store.status_versions``; it moves in the transaction of every revocation, suspension and
reinstatement, whichever process makes it). When it differs from the version the cached answers were
produced under, the authority's cached answers are dropped and the request goes to ``answer``, the full
responder. A kept answer is also dropped once half its validity has passed, when the responder produces a
fresher one.

Requests with a nonce are never answered from memory (the nonce must be echoed in a freshly signed
response), nor are answers for serials the CA never issued (nothing is pre-produced for them).

Callers render each answer once into what they send (``render``: for api/, the HTTP response with its
headers), so a hit costs no formatting either.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cryptography.x509.ocsp import OCSPResponseStatus

from ca.ocsp import (
    ISSUING_AUTHORITIES,
    MALFORMED,
    UNAUTHORIZED,
    OcspAnswer,
    OcspRefusal,
    OcspResponder,
    cert_id,
    parse_request,
)
from core.clock import SystemClock
from store.db import Database
from store.status_versions import StatusVersions

Rendered = TypeVar("Rendered")
# Keys (request encodings and CertIDs) kept per authority. An entry is the response (~1 KiB with the
# responder certificate) as rendered; 32,768 keys bound the memory to a few tens of MB per process.
DEFAULT_CAPACITY = 32_768
# A request is kept as a key (so the same bytes skip parsing next time) only if it is of ordinary size; one
# CertID and a few extensions are ~100 bytes, and larger ones must not fill memory. They still hit by CertID.
ALIAS_MAX_BYTES = 1024


@dataclass(frozen=True, slots=True)
class _Entry(Generic[Rendered]):
    rendered: Rendered
    refresh_at: float  # POSIX time after which the responder produces a fresher response
    version: int  # the status version it was produced under


class CachingOcspResponder(Generic[Rendered]):
    def __init__(
        self,
        responder: OcspResponder,
        db: Database,
        versions: StatusVersions,
        render: Callable[[OcspAnswer], Rendered],
        *,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.responder = responder
        self.db = db
        self.versions = versions
        self.render = render
        self.capacity = capacity
        self._entries: dict[str, OrderedDict[Hashable, _Entry[Rendered]]] = {
            authority: OrderedDict() for authority in ISSUING_AUTHORITIES
        }
        self._seen: dict[str, int] = {}  # the status version the kept answers were produced under
        self._lock = threading.Lock()
        clock = responder.ca.clock
        # the system clock's POSIX time without building a datetime per answer; an injected clock as it is
        self._timestamp = time.time if type(clock) is SystemClock else (lambda: clock.now().timestamp())
        self.malformed = render(OcspAnswer(MALFORMED))  # also for what api/ cannot even decode
        self._unauthorized = render(OcspAnswer(UNAUTHORIZED))

    def lookup(self, authority_id: str, request_der: bytes) -> Rendered | None:
        """The answer from memory, or a refusal that needs no database; None: ask ``answer``."""
        entries = self._entries.get(authority_id)
        if entries is None:
            return self._unauthorized
        entry = entries.get(request_der)
        alias = entry is None
        if entry is None:
            try:
                request = parse_request(authority_id, request_der)
            except OcspRefusal as refusal:
                unauthorized = refusal.status is OCSPResponseStatus.UNAUTHORIZED
                return self._unauthorized if unauthorized else self.malformed
            issuer = self.responder.known_issuer(authority_id)
            if issuer is not None and (
                issuer.name_hashes[request.hash_name],
                issuer.key_hashes[request.hash_name],
            ) != (request.name_hash, request.key_hash):
                return self._unauthorized
            if request.nonce is not None:
                return None
            entry = entries.get(cert_id(request))
            if entry is None:
                return None
        version = self.versions.current(authority_id)
        now = self._timestamp()
        with self._lock:
            if version is None or version != self._seen.get(authority_id):
                if version is not None:
                    self._reset(authority_id, version)
                return None
            if entry.version != version or now >= entry.refresh_at:
                return None  # found just before another thread dropped its generation, or due for renewal
            entries = self._entries[authority_id]
            if alias and len(request_der) <= ALIAS_MAX_BYTES:
                self._keep(entries, request_der, entry)
            elif request_der in entries:
                entries.move_to_end(request_der)
        return entry.rendered

    def answer(self, authority_id: str, request_der: bytes) -> Rendered:
        """The full responder's answer, kept for next time if it was pre-produced; blocking (a thread)."""
        # Read before the responder reads the status: a change committed after this read moves the
        # version past it, so an answer produced from the older status is dropped at the next lookup.
        version = self.versions.current(authority_id) if authority_id in self._entries else None
        answer = self.responder.answer(self.db, authority_id, request_der)
        if answer.der == MALFORMED:
            return self.malformed
        if answer.der == UNAUTHORIZED:
            return self._unauthorized
        rendered = self.render(answer)
        refresh_at = answer.refresh_at
        if answer.cert_id is None or refresh_at is None or version is None:
            return rendered
        entry = _Entry(rendered, refresh_at.timestamp(), version)
        with self._lock:
            seen = self._seen.get(authority_id)
            if seen is not None and version < seen:
                return rendered  # produced from a status older than what lookups already know
            if seen is None or version > seen:
                self._reset(authority_id, version)
            entries = self._entries[authority_id]
            self._keep(entries, answer.cert_id, entry)
            if len(request_der) <= ALIAS_MAX_BYTES:
                self._keep(entries, request_der, entry)
        return rendered

    def clear(self) -> None:
        with self._lock:
            for authority in list(self._entries):
                self._entries[authority] = OrderedDict()
            self._seen.clear()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    # -- under the lock ---------------------------------------------------------------------------------
    def _reset(self, authority_id: str, version: int) -> None:
        self._entries[authority_id] = OrderedDict()
        self._seen[authority_id] = version

    def _keep(self, entries: OrderedDict[Hashable, _Entry[Rendered]], key: Hashable, entry: _Entry) -> None:
        entries[key] = entry
        entries.move_to_end(key)
        while len(entries) > self.capacity:
            entries.popitem(last=False)
