"""The check-in fast path leaves a head with a control byte in a header value to uvicorn.

``api.fastpath.checkins.parse`` took any byte but CR and LF in a header value, so a check-in whose head
carried a NUL (or another control byte) was decided and answered 200 by the connection handler, where
uvicorn's parser refuses that head with 400 — two parsers of one connection disagreeing about a request.
Such a request is now handed to uvicorn (``FOREIGN``); a well-formed one is still decided here.
"""

from __future__ import annotations

import json

import pytest

from api.fastpath import checkins as checkin_fastpath
from api.fastpath.checkins import CheckinRequest
from api.fastpath.http import FOREIGN

BODY = json.dumps({"payload": "KY1:abc", "desk": "gate-1"}).encode()


def checkin(extra: bytes) -> bytes:
    return (
        b"POST /api/v1/checkins HTTP/1.1\r\nHost: kyso\r\nAuthorization: Bearer some-token\r\n"
        b"Content-Type: application/json\r\n" + extra + b"Content-Length: " + str(len(BODY)).encode()
        + b"\r\n\r\n" + BODY
    )  # fmt: skip


def test_a_well_formed_check_in_is_still_decided_by_the_fast_path() -> None:
    assert isinstance(checkin_fastpath.parse(checkin(b"X-Request-ID: abc\tdef\r\n")), CheckinRequest)
    assert isinstance(checkin_fastpath.parse(checkin("X-Note: Bến Thành\r\n".encode())), CheckinRequest)


@pytest.mark.parametrize(
    "value", [b"a\x00b", b"a\x01b", b"a\x1bb", b"a\x7fb"], ids=["NUL", "SOH", "ESC", "DEL"]
)
def test_a_control_byte_in_a_header_value_leaves_the_request_to_uvicorn(value: bytes) -> None:
    assert checkin_fastpath.parse(checkin(b"X-Note: " + value + b"\r\n")) is FOREIGN  # before: decided
