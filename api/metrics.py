"""Prometheus metrics: what is kept, how domain events become series, and ``GET /metrics``.

One ``Metrics`` per process, built on first use (``process_metrics``): with several ``kyso serve``
workers, ``PROMETHEUS_MULTIPROC_DIR`` is set by the CLI before any worker starts, prometheus_client keeps
every value in a file there, and ``/metrics`` answered by any worker sums all of them.

The OCSP fast path (``api.fastpath.connection``) answers in ~100 µs and must not pay for a labelled counter
and a lock per answer: it adds one to a plain list slot (``OCSP_TALLY``, written by the event-loop thread
only), and ``fold_ocsp_tally`` moves what was added since the last fold into the Prometheus counter — at
every scrape of this process, and every few seconds in each worker when there are several (so a scrape
answered by another worker sees it). Only misses, answered by the full responder in a thread, are timed.

Who may read: ``/metrics`` answers without an account (Prometheus scrapes without credentials) but only
to clients whose address is in ``KYSO_METRICS_ALLOW`` (loopback by default). The figures say how busy the
service is and how often check-ins are refused, not who did what; behind a reverse proxy, the address is
the client a proxy in KYSO_TRUSTED_PROXIES named (api.forwarded), so a proxied outside request is refused too.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

from cryptography.x509 import ocsp as x509_ocsp
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from api.auth import client_address
from api.problems import problem
from core import metrics

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# HTTP latencies span OCSP-through-ASGI (sub-ms) to signing a batch of large PDFs (tens of seconds).
HTTP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

OCSP_STATUSES = ("good", "revoked", "unknown", "malformed", "unauthorized", "try_later", "internal_error",
                 "sig_required")  # fmt: skip
OCSP_MISS = len(OCSP_STATUSES)  # OCSP_TALLY[i] hits of status i; OCSP_TALLY[OCSP_MISS + i] misses
OCSP_TALLY: list[int] = [0] * (2 * OCSP_MISS)
_RESPONSE_STATUS = {
    x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST: "malformed",
    x509_ocsp.OCSPResponseStatus.UNAUTHORIZED: "unauthorized",
    x509_ocsp.OCSPResponseStatus.TRY_LATER: "try_later",
    x509_ocsp.OCSPResponseStatus.INTERNAL_ERROR: "internal_error",
    x509_ocsp.OCSPResponseStatus.SIG_REQUIRED: "sig_required",
}


def ocsp_status_index(der: bytes) -> int:
    """The slot of an OCSP response's status in ``OCSP_TALLY`` (found once, when the answer is rendered)."""
    try:
        response = x509_ocsp.load_der_ocsp_response(der)
        if response.response_status is not x509_ocsp.OCSPResponseStatus.SUCCESSFUL:
            return OCSP_STATUSES.index(_RESPONSE_STATUS[response.response_status])
        return OCSP_STATUSES.index(response.certificate_status.name.lower())
    except (ValueError, KeyError):
        return OCSP_STATUSES.index("internal_error")


class Metrics:
    """The series this service exports, and the listener that turns domain events into them."""

    def __init__(self) -> None:
        self.http_requests = Counter(
            "kyso_http_requests", "HTTP requests answered by the application", ["method", "route", "status"]
        )
        self.http_seconds = Histogram(
            "kyso_http_request_duration_seconds", "time to answer an HTTP request", ["method", "route"],
            buckets=HTTP_BUCKETS,
        )  # fmt: skip
        self.signatures = Counter(
            "kyso_signatures", "document signatures by level (b-b…b-lta, or hash) and outcome",
            ["level", "outcome"],
        )  # fmt: skip
        self.issued = Counter("kyso_certificates_issued", "certificates issued, by profile", ["profile"])
        self.checkins = Counter(
            "kyso_checkins", "check-in decisions at the desks (online and synced offline)",
            ["decision", "reason", "mode"],
        )  # fmt: skip
        self.logins = Counter("kyso_logins", "logins by outcome (and the refusal reason)", ["outcome"])
        self.ocsp = Counter(
            "kyso_ocsp_responses", "OCSP answers: from memory (hit) or the responder (miss), by status",
            ["cache", "status"],
        )  # fmt: skip
        self.ocsp_seconds = Histogram(
            "kyso_ocsp_responder_seconds", "time the full OCSP responder took (cache misses only)",
            buckets=FAST_BUCKETS,
        )  # fmt: skip
        self.tsa_seconds = Histogram(
            "kyso_tsa_request_seconds", "timestamp requests by outcome (granted or the failInfo)",
            ["outcome"], buckets=FAST_BUCKETS,
        )  # fmt: skip
        self.rate_limited = Counter(
            "kyso_rate_limited", "requests refused by a per-client rate limit", ["scope"]
        )
        self._folded = [0] * len(OCSP_TALLY)
        self._fold_lock = threading.Lock()

    # -- core.metrics.Listener ------------------------------------------------------------------------
    def count(self, event: str, labels: Mapping[str, str]) -> None:
        if event == "certificate.issued":
            self.issued.labels(labels.get("profile", "?")).inc()
        elif event == "ratelimit.refused":
            self.rate_limited.labels(labels.get("scope", "?")).inc()

    def observe(self, event: str, seconds: float, labels: Mapping[str, str]) -> None:
        if event == "tsa.token":
            self.tsa_seconds.labels(labels.get("outcome", "?")).observe(seconds)

    def audited(self, action: str, outcome: str, details: Mapping[str, Any]) -> None:
        if action == "checkin.decide":
            reason = "admitted" if outcome == "admit" else str(details.get("reason") or "unknown")
            self.checkins.labels(outcome, reason, "online").inc()
        elif action == "checkin.offline":
            self.checkins.labels(outcome, "offline", "offline").inc()
        elif action == "document.sign":
            self.signatures.labels(str(details.get("level", "?")), "signed").inc()
        elif action == "document.sign-hash":
            self.signatures.labels("hash", "signed").inc(len(details.get("hashes") or ()) or 1)
        elif action == "signing.authorize" and outcome != "success":
            self.signatures.labels("-", outcome).inc()  # refused before anything was signed
        elif action == "login":
            refused = outcome == "failure"
            self.logins.labels(f"refused:{details.get('reason', '?')}" if refused else outcome).inc()

    # -- the OCSP tally ---------------------------------------------------------------------------------
    def fold_ocsp_tally(self) -> None:
        """Add what the fast path counted since the last fold to the Prometheus counter."""
        with self._fold_lock:
            for index, total in enumerate(OCSP_TALLY):
                added = total - self._folded[index]
                if added:
                    self._folded[index] = total
                    hit, status = divmod(index, OCSP_MISS)
                    self.ocsp.labels("miss" if hit else "hit", OCSP_STATUSES[status]).inc(added)


@cache
def process_metrics() -> Metrics:
    """This process's metrics, listening to core.metrics from now on."""
    found = Metrics()
    metrics.listen(found)
    if os.environ.get(MULTIPROC_ENV):
        _start_folding(found)
    return found


def _start_folding(found: Metrics, every: float = 5.0) -> None:
    def loop() -> None:
        while not stop.wait(every):
            found.fold_ocsp_tally()

    stop = threading.Event()
    threading.Thread(target=loop, name="kyso-ocsp-tally", daemon=True).start()


def exposition() -> bytes:
    """The text format of every series: this process's, or with several workers all of theirs."""
    process_metrics().fold_ocsp_tally()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def allowed_networks(spec: str) -> Networks:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def may_scrape(address: str | None, networks: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
               403: {"description": "The caller's address is not in KYSO_METRICS_ALLOW"}},
    summary="Prometheus metrics (from the addresses in KYSO_METRICS_ALLOW)",
)  # fmt: skip
def scrape(request: Request) -> Response:
    networks = allowed_networks(request.app.state.kyso.settings.metrics_allow)
    if not may_scrape(client_address(request), networks):
        return problem(403, "metrics are served to the monitoring network only", kind="forbidden")
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
