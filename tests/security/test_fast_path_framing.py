"""The connection handler reads OCSP requests the way uvicorn does, or leaves them to uvicorn.

``api.fastpath.connection.parse`` looked only for the header lines it cares about (Content-Length, Connection,
Transfer-Encoding …) after a CRLF. A line it could not see — a ``Transfer-Encoding`` after a bare LF or a
bare CR, one with a space before its colon — or a NUL in a value went unnoticed, and it answered the
request by its Content-Length, where uvicorn's parser (and any proxy reading the line) refuses it or frames
it otherwise: two parsers on one connection disagreeing about where a request ends is request smuggling.
Each such head is now left to uvicorn, which answers 400, like the same head on any other route.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.fastpath import ocsp as ocsp_fastpath
from api.fastpath.http import FOREIGN
from tests.conftest import Instance, make_instance
from tests.support import cluster

BODY = b"0\x03\x02\x01\x00"  # not a valid OCSPRequest: the fast path answers it malformedRequest itself
WELL_FORMED = b"Host: kyso\r\nContent-Length: 5"
MALFORMED = {
    "transfer-encoding after a bare LF": b"Host: kyso\nTransfer-Encoding: chunked\r\nContent-Length: 5",
    "transfer-encoding after a bare CR": b"Host: kyso\rTransfer-Encoding: chunked\r\nContent-Length: 5",
    "space before the colon": b"Host: kyso\r\nContent-Length: 5\r\nTransfer-Encoding : chunked",
    "NUL in a value": b"Host: ky\x00so\r\nContent-Length: 5",
    "control byte in a value": b"Host: ky\x01so\r\nContent-Length: 5",
    "name that is not a token": b"Host: kyso\r\nX(a): b\r\nContent-Length: 5",
    "line without a colon": b"Host: kyso\r\nnonsense\r\nContent-Length: 5",
}


def request(headers: bytes, target: bytes = b"/ocsp/citizen") -> bytes:
    return b"POST " + target + b" HTTP/1.1\r\n" + headers + b"\r\n\r\n" + BODY


def test_a_well_formed_ocsp_post_is_still_answered_by_the_fast_path() -> None:
    parsed = ocsp_fastpath.parse(request(WELL_FORMED))
    assert parsed is not FOREIGN and parsed is not None
    assert parsed.der == BODY


@pytest.mark.parametrize("headers", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_head_uvicorn_would_refuse_is_left_to_uvicorn(headers: bytes) -> None:
    assert ocsp_fastpath.parse(request(headers)) is FOREIGN


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.Served]:
    tmp: Path = tmp_path_factory.mktemp("framing")
    inst: Instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    server = cluster.start(inst)
    yield server
    cluster.stop(server)
    inst.db.dispose()


def first_status_line(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        received = b""
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.partition(b"\r\n")[0]


@pytest.mark.parametrize("headers", MALFORMED.values(), ids=MALFORMED.keys())
def test_kyso_serve_refuses_the_head_on_the_ocsp_route_as_on_any_other(
    served: cluster.Served, headers: bytes
) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    elsewhere = first_status_line(port, request(headers, b"/api/v1/auth/logout"))
    assert elsewhere.startswith(b"HTTP/1.1 400"), elsewhere
    assert first_status_line(port, request(headers)) == elsewhere  # before the fix: 200 OK, answered


def test_kyso_serve_still_answers_a_well_formed_ocsp_post(served: cluster.Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])
    assert first_status_line(port, request(WELL_FORMED)) == b"HTTP/1.1 200 OK"
