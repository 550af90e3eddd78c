"""Property-based fuzzing (hypothesis) of the parsers that take bytes from anyone: the QR payload decoder,
the OCSP connection handler's HTTP parser and the OCSP/TSA request parsers. Each must answer with the
protocol's own refusal, never an unexpected exception. Inputs are random and mutations of genuine ones.

Longer runs: ``KYSO_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/fuzz`` (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from hypothesis import example, given
from hypothesis import strategies as st

from api.fastpath import checkins as checkin_fastpath
from api.fastpath.ocsp import decode_get, route
from api.fastpath.ocsp import parse as ocsp_parse
from ca import ocsp as ca_ocsp
from ca import tsa
from invitations import base45, token
from invitations.keys import KeySet
from tests.fuzz.strategies import FUZZ, TSA_REQUEST, mutated
from tests.support.clock import upcoming
from tests.support.invitations import make_seal

NOW = upcoming(8, 50).astimezone(dt.UTC)  # 08:50 in Hồ Chí Minh City, inside the seal's validity
SEAL = make_seal()
KEYS = KeySet.of([SEAL.trusted_key()])
GENUINE_TOKEN = token.encode(
    token.InvitationClaims(
        invitation_id="k7w3m9q2x4z8r6t1",
        venue="UBND-BT",
        guest_name="Nguyễn Thị Minh Khai",
        not_before=int(NOW.timestamp()) - 600,
        expires=int(NOW.timestamp()) + 3600,
        token_id=bytes.fromhex("0102030405060708"),
    ),
    SEAL,
)


def _self_signed() -> tuple[x509.Certificate, x509.Certificate]:
    seal = make_seal()
    return seal.certificate, seal.certificate


def _ocsp_request(nonce: bool = False) -> bytes:
    certificate, issuer = _self_signed()
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


OCSP_REQUEST = _ocsp_request(nonce=True)


# --- the QR payload -------------------------------------------------------------------------------------
@FUZZ
@given(st.text(max_size=400))
@example("KY1:")
@example("KR1:" + "%" * 30)
@example("KY1:" + "0" * 3001)
def test_base45_decodes_or_says_why(text: str) -> None:
    try:
        decoded = base45.decode(text)
    except base45.Base45Error:
        return
    assert base45.decode(base45.encode(decoded)) == decoded


@FUZZ
@given(st.one_of(st.text(max_size=600), mutated(GENUINE_TOKEN.encode()).map(lambda b: b.decode("latin-1"))))
@example(GENUINE_TOKEN)
@example(GENUINE_TOKEN + "#123456")
@example("KY1:" + base45.encode(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""]))))
@example("KY1:" + base45.encode(cbor2.dumps(cbor2.CBORTag(18, [b"\xa0", {4: 1}, b"\xa0", b"x" * 64]))))
@example("KY1:" + base45.encode(cbor2.dumps([1] * 4)))
def test_a_scanned_text_gets_a_verdict_never_an_exception(text: str) -> None:
    verdict = token.verify(text, KEYS, NOW)
    if text == GENUINE_TOKEN:
        assert verdict.reason is None
    else:
        assert verdict.reason is not None or verdict.claims is not None


# --- the OCSP connection handler's HTTP parser ------------------------------------------------------------
def _post(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"POST /ocsp/citizen HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


HEADS = st.sampled_from(
    [
        _post(OCSP_REQUEST),
        _post(OCSP_REQUEST, b"Connection: close\r\n"),
        b"GET /ocsp/citizen/MEIwQDA+ HTTP/1.0\r\n\r\n",
    ]
)


@FUZZ
@given(st.one_of(st.binary(max_size=2000), HEADS.flatmap(mutated)))
@example(b"POST /ocsp/citizen HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n")
@example(b"POST /ocsp/citizen HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
@example(b"POST /ocsp/ HTTP/1.1\r\n\r\n")
@example(b"GET /ocsp/citizen/%ZZ%00 HTTP/1.1\r\n\r\n")
@example(b"POST /ocsp/citizen HTTP/1.1\r\nContent-Length: 1\r\n folded\r\n\r\nx")
def test_the_ocsp_connection_parser_parses_hands_off_or_waits(buffer: bytes) -> None:
    parsed = _taken(ocsp_parse, buffer)
    if parsed is not None:
        assert parsed.der is None or len(parsed.der) <= ca_ocsp.MAX_REQUEST_BYTES * 2


def _taken(parse: Callable[[bytes], Any], buffer: bytes) -> Any:
    """What a connection parser took from ``buffer`` (never more than is there), or None when it hands the
    request to the application or waits for more bytes."""
    parsed = parse(buffer)
    if parsed is None or isinstance(parsed, checkin_fastpath.Foreign):
        return None
    assert 0 < parsed.size <= len(buffer)
    return parsed


_CHECKIN_BODY = b'{"payload": "KY1:6BFOXN*TS0BI$ZDFRH", "desk": "gate-1"}'
CHECKIN_SEEDS = [
    b"POST /api/v1/checkins HTTP/1.1\r\nHost: k\r\nAuthorization: Bearer kyso_x\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(_CHECKIN_BODY), _CHECKIN_BODY),
    b"POST /api/v1/checkins HTTP/1.0\r\nauthorization: bearer kyso_y\r\nX-Forwarded-For: 203.0.113.9\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_CHECKIN_BODY), _CHECKIN_BODY),
]


@FUZZ
@given(st.one_of(st.binary(max_size=2000), st.sampled_from(CHECKIN_SEEDS).flatmap(mutated)))
@example(CHECKIN_SEEDS[0])
@example(CHECKIN_SEEDS[1] + CHECKIN_SEEDS[0])  # pipelined: the first request only
@example(b"POST /api/v1/checkins HTTP/1.1\r\nAuthorization: Bearer \r\nContent-Length: 2\r\n\r\n{}")
@example(b"POST /api/v1/checkins HTTP/1.1\r\nAuthorization: Bearer a\r\nContent-Length: 4\r\n\r\n[1]x")
@example(b"POST /api/v1/checkins HTTP/1.1\r\nAuthorization: Bearer a\r\nContent-Length: 99999999999\r\n\r\n")
def test_the_checkin_connection_parser_parses_hands_off_or_waits(buffer: bytes) -> None:
    parsed = _taken(checkin_fastpath.parse, buffer)
    if parsed is not None:
        assert parsed.credential and not parsed.credential.startswith("kysk_")
        assert 1 <= len(parsed.desk) <= 40 and len(parsed.payload) <= 4000


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["GET", "POST", "PUT"]))
def test_ocsp_urls_route_or_not(path: bytes, method: str) -> None:
    routed = route(method, b"/ocsp/" + path)
    if routed is not None and routed[1] is not None:
        decode_get(routed[1])


# --- the OCSP and TSA request parsers ---------------------------------------------------------------------
@FUZZ
@given(st.one_of(st.binary(max_size=600), mutated(OCSP_REQUEST)), st.sampled_from(["citizen", "root", "x"]))
def test_an_ocsp_request_parses_or_is_refused_with_a_status(der: bytes, authority: str) -> None:
    try:
        parsed = ca_ocsp.parse_request(authority, der)
    except ca_ocsp.OcspRefusal as refusal:
        assert refusal.status in (
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
            ocsp.OCSPResponseStatus.UNAUTHORIZED,
        )
    else:
        assert parsed.hash_name in ("sha1", "sha256", "sha384", "sha512")


@FUZZ
@given(st.one_of(st.binary(max_size=600), mutated(TSA_REQUEST)))
@example(b"\x30\x80" + b"\x00" * 10)  # indefinite length
@example(b"\x30\x84\xff\xff\xff\xff")  # a length far past the end
def test_a_tsa_request_parses_or_is_rejected_with_a_fail_info(der: bytes) -> None:
    try:
        tsa.parse_request(der)
    except tsa.TimestampRejected as rejected:
        assert rejected.fail_info in ("bad_alg", "bad_request", "bad_data_format", "unaccepted_policy",
                                      "unaccepted_extensions")  # fmt: skip
        assert tsa.TimeStampResponse.load(rejected.response_der())["status"]["status"].native == "rejection"
