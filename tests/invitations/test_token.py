"""The token codec against a table of cases in the style of the EU DCC test data.

Each case builds a scanned text (a genuine token, or one damaged or crafted in a particular way) and
states the decision a desk must reach. The crafted ones are signed for real where the trick needs a
valid signature (a wrong algorithm, an unprotected key id), so the test shows the rule, not an accident.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from invitations import base45, token
from invitations.keys import ALG_ES256, ALG_ES384, KeySet, PassSigner, TrustedKey
from invitations.reasons import ENGLISH, VIETNAMESE, Reason
from tests.support.clock import upcoming
from tests.support.invitations import make_seal

NOW = upcoming(8, 50).astimezone(dt.UTC)  # 08:50 in Hồ Chí Minh City, inside the seals' validity
START = int(NOW.timestamp()) - 600
END = int(NOW.timestamp()) + 3600

SEAL = make_seal()
SEAL_384 = make_seal(ec.SECP384R1(), "P-384 seal")
STRANGER = make_seal(name="someone else's key")
RETIRED = make_seal(name="retired seal")
KEYS = KeySet.of(
    [
        SEAL.trusted_key(),
        SEAL_384.trusted_key(),
        TrustedKey.from_certificate(RETIRED.certificate, retired=True),
    ]
)
CLAIMS = token.InvitationClaims(
    invitation_id="k7w3m9q2x4z8r6t1",
    venue="UBND-BT",
    guest_name="Nguyễn Thị Minh Khai",
    not_before=START,
    expires=END,
    token_id=bytes.fromhex("0102030405060708"),
    cccd_hash=token.cccd_hash("k7w3m9q2x4z8r6t1", "079203001234"),
)


def dumps(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


def claims_map(**changes: object) -> dict[int, object]:
    return replace(CLAIMS, **changes).to_cbor()  # type: ignore[arg-type]


def craft(
    *,
    protected: object = None,
    unprotected: object = None,
    payload: bytes | None = None,
    seal: PassSigner = SEAL,
    signature: Callable[[bytes], bytes] | None = None,
    tag: int | None = 18,
    items: int = 4,
    prefix: str = token.PREFIX,
) -> str:
    """A COSE_Sign1 built by hand: ``protected`` is a header map (encoded here) or raw bytes."""
    header = {1: seal.alg, 4: seal.kid} if protected is None else protected
    protected_bytes = header if isinstance(header, bytes) else dumps(header)
    body = dumps(CLAIMS.to_cbor()) if payload is None else payload
    to_sign = dumps(["Signature1", protected_bytes, b"", body])
    raw = signature(to_sign) if signature else seal.sign(to_sign)
    parts = [protected_bytes, {} if unprotected is None else unprotected, body, raw][:items]
    message = cbor2.CBORTag(tag, parts) if tag is not None else parts
    return prefix + base45.encode(dumps(message))


def genuine(**changes: object) -> str:
    return token.encode(replace(CLAIMS, **changes), SEAL)  # type: ignore[arg-type]


def flip(text: str, index: int) -> str:
    """Change one character to another of the base45 alphabet."""
    alphabet = base45.ALPHABET
    char = text[index]
    return text[:index] + alphabet[(alphabet.index(char) + 1) % 45] + text[index + 1 :]


def der_signature(data: bytes) -> bytes:
    return SEAL.sign_der(data)


def with_trailing_bytes() -> str:
    raw = base45.decode(genuine()[4:])
    return token.PREFIX + base45.encode(raw + b"\x00")


def bit_flipped_signature() -> str:
    raw = bytearray(base45.decode(genuine()[4:]))
    raw[-5] ^= 0x01
    return token.PREFIX + base45.encode(bytes(raw))


def bit_flipped_payload() -> str:
    """The venue changed from UBND-BT to UBND-BU inside the signed payload, signature kept."""
    raw = base45.decode(genuine()[4:])
    tampered = raw.replace(b"UBND-BT", b"UBND-BU")
    assert tampered != raw
    return token.PREFIX + base45.encode(tampered)


def stranger_with_our_kid() -> str:
    return craft(protected={1: ALG_ES256, 4: SEAL.kid}, seal=STRANGER)


def es384_header_p256_key() -> str:
    return craft(protected={1: ALG_ES384, 4: SEAL.kid})


def raw_zero_pad(data: bytes) -> bytes:
    r, s = decode_dss_signature(SEAL.sign_der(data))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x00"


@dataclass(frozen=True)
class Case:
    name: str
    text: Callable[[], str]
    expected: Reason | None
    at: dt.datetime = NOW
    leeway: int = 0


CASES = [
    # the genuine article
    Case("genuine ES256 token", genuine, None),
    Case("genuine ES384 token", lambda: token.encode(CLAIMS, SEAL_384), None),
    Case("genuine, surrounding whitespace from a scanner", lambda: f"  {genuine()}\n", None),
    Case("genuine, kid in both headers and equal", lambda: craft(unprotected={4: SEAL.kid}), None),
    Case("at exactly nbf", genuine, None, at=dt.datetime.fromtimestamp(START, dt.UTC)),
    Case("at exactly exp", genuine, None, at=dt.datetime.fromtimestamp(END, dt.UTC)),
    Case(
        "90 s after exp, offline desk leeway 120 s",
        genuine,
        None,
        at=dt.datetime.fromtimestamp(END + 90, dt.UTC),
        leeway=120,
    ),
    Case("rotating pass KR1 with a code", lambda: token.with_rotating_code(genuine(), "123456"), None),
    # not ours
    Case("empty text", lambda: "", Reason.NOT_OURS),
    Case("a DCC (HC1:) instead of KY1:", lambda: "HC1:" + genuine()[4:], Reason.NOT_OURS),
    Case("prefix in lower case", lambda: "ky1:" + genuine()[4:], Reason.NOT_OURS),
    Case("a web address", lambda: "https://ubnd.example.vn/thu-moi/123", Reason.NOT_OURS),
    Case("a future token version KY2:", lambda: "KY2:" + genuine()[4:], Reason.NOT_OURS),
    # damaged transport
    Case("prefix only", lambda: token.PREFIX, Reason.MALFORMED),
    Case("lower-case base45 letters", lambda: token.PREFIX + genuine()[4:].lower(), Reason.MALFORMED),
    Case("base45 length 3n+1", lambda: genuine() + "0", Reason.MALFORMED),
    Case("truncated to half", lambda: genuine()[: len(genuine()) // 2], Reason.MALFORMED),
    Case("base45 triple over 0xFFFF", lambda: token.PREFIX + "GGW", Reason.MALFORMED),
    Case("longer than any QR holds", lambda: token.PREFIX + "A" * 5000, Reason.MALFORMED),
    Case("rotating prefix with five digits", lambda: "KR1:12345:" + genuine()[4:], Reason.MALFORMED),
    # CBOR and COSE structure
    Case(
        "base45 of bytes that are not CBOR",
        lambda: token.PREFIX + base45.encode(b"\xff\xfe"),
        Reason.MALFORMED,
    ),
    Case("trailing bytes after the CBOR", with_trailing_bytes, Reason.MALFORMED),
    Case("untagged COSE_Sign1", lambda: craft(tag=None), Reason.MALFORMED),
    Case("CWT tag 61 instead of 18", lambda: craft(tag=61), Reason.MALFORMED),
    Case("COSE_Sign tag 98", lambda: craft(tag=98), Reason.MALFORMED),
    Case("array of three items", lambda: craft(items=3), Reason.MALFORMED),
    Case(
        "protected header is a map, not a byte string",
        lambda: token.PREFIX + base45.encode(dumps(cbor2.CBORTag(18, [{1: -7}, {}, b"", b""]))),
        Reason.MALFORMED,
    ),
    Case("protected header bytes are not a map", lambda: craft(protected=dumps([1, 2])), Reason.MALFORMED),
    # algorithm
    Case("no algorithm", lambda: craft(protected={4: SEAL.kid}), Reason.MALFORMED),
    Case(
        "algorithm only in the unprotected header",
        lambda: craft(protected={4: SEAL.kid}, unprotected={1: ALG_ES256}),
        Reason.MALFORMED,
    ),
    Case("PS256 (-37)", lambda: craft(protected={1: -37, 4: SEAL.kid}), Reason.BAD_ALGORITHM),
    Case("alg none-ish: 0", lambda: craft(protected={1: 0, 4: SEAL.kid}), Reason.BAD_ALGORITHM),
    Case(
        "algorithm as text 'ES256'", lambda: craft(protected={1: "ES256", 4: SEAL.kid}), Reason.BAD_ALGORITHM
    ),
    Case("ES384 header over a P-256 key", es384_header_p256_key, Reason.BAD_ALGORITHM),
    # key id tricks
    Case("no key id anywhere", lambda: craft(protected={1: ALG_ES256}), Reason.MALFORMED),
    Case(
        "key id only in the unprotected header",
        lambda: craft(protected={1: ALG_ES256}, unprotected={4: SEAL.kid}),
        Reason.MALFORMED,
    ),
    Case(
        "unprotected key id differs from the protected one",
        lambda: craft(unprotected={4: SEAL_384.kid}),
        Reason.MALFORMED,
    ),
    Case("key id as text", lambda: craft(protected={1: ALG_ES256, 4: SEAL.kid.hex()}), Reason.MALFORMED),
    Case("unknown key id", lambda: craft(protected={1: ALG_ES256, 4: os.urandom(8)}), Reason.UNKNOWN_KEY),
    Case("retired key", lambda: token.encode(CLAIMS, RETIRED), Reason.UNKNOWN_KEY),
    Case(
        "32-byte key id (a whole hash)",
        lambda: craft(protected={1: ALG_ES256, 4: SEAL.kid * 4}),
        Reason.UNKNOWN_KEY,
    ),
    Case("a stranger's key under our key id", stranger_with_our_kid, Reason.FORGED),
    # signature
    Case("one bit of the signature flipped", bit_flipped_signature, Reason.FORGED),
    Case("venue changed in the signed payload", bit_flipped_payload, Reason.FORGED),
    Case("one base45 character changed near the end", lambda: flip(genuine(), -3), Reason.FORGED),
    Case("signature in DER instead of r||s", lambda: craft(signature=der_signature), Reason.FORGED),
    Case("signature one byte too long", lambda: craft(signature=raw_zero_pad), Reason.FORGED),
    Case("empty signature", lambda: craft(signature=lambda _: b""), Reason.FORGED),
    # signed, but the claims are wrong
    Case("payload is not CBOR", lambda: craft(payload=b"\xff"), Reason.MALFORMED),
    Case("payload is a CBOR list", lambda: craft(payload=dumps([1, 2])), Reason.MALFORMED),
    Case(
        "no invitation claim",
        lambda: craft(payload=dumps({1: "kyso", 4: END, 5: START, 7: b"12345678"})),
        Reason.MALFORMED,
    ),
    Case("another issuer", lambda: craft(payload=dumps({**claims_map(), 1: "other"})), Reason.MALFORMED),
    Case("4-byte token id", lambda: craft(payload=dumps(claims_map(token_id=b"1234"))), Reason.MALFORMED),
    Case("exp before nbf", lambda: craft(payload=dumps(claims_map(expires=START - 1))), Reason.MALFORMED),
    Case(
        "nbf as a CBOR date-time tag",
        lambda: craft(payload=dumps({**claims_map(), 5: cbor2.CBORTag(1, START)})),
        Reason.MALFORMED,
    ),
    # time
    Case(
        "clock one second before nbf",
        genuine,
        Reason.NOT_YET_VALID,
        at=dt.datetime.fromtimestamp(START - 1, dt.UTC),
    ),
    Case(
        "clock one second after exp", genuine, Reason.EXPIRED, at=dt.datetime.fromtimestamp(END + 1, dt.UTC)
    ),
    Case(
        "clock a day after exp, offline leeway",
        genuine,
        Reason.EXPIRED,
        at=NOW + dt.timedelta(days=1),
        leeway=120,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_token_case(case: Case) -> None:
    verdict = token.verify(case.text(), KEYS, case.at, leeway=case.leeway)
    assert verdict.reason == case.expected, verdict.detail
    assert verdict.ok == (case.expected is None)
    if case.expected is None:
        assert verdict.claims is not None
        assert verdict.claims.guest_name == "Nguyễn Thị Minh Khai"
        assert verdict.claims.venue == "UBND-BT"
    if case.expected in (Reason.NOT_OURS, Reason.MALFORMED, Reason.UNKNOWN_KEY, Reason.FORGED):
        assert verdict.claims is None  # nothing unverified is ever handed on


def test_the_table_is_as_large_as_the_issue_asks() -> None:
    assert len(CASES) >= 40
    assert {c.expected for c in CASES} >= {
        None, Reason.NOT_OURS, Reason.MALFORMED, Reason.BAD_ALGORITHM, Reason.UNKNOWN_KEY, Reason.FORGED,
        Reason.NOT_YET_VALID, Reason.EXPIRED,
    }  # fmt: skip


def test_every_reason_reads_in_vietnamese_and_english() -> None:
    for reason in Reason:
        assert VIETNAMESE[reason] and ENGLISH[reason]
    assert VIETNAMESE[Reason.NOT_YET_VALID] == "Chưa đến giờ"
    assert VIETNAMESE[Reason.EXPIRED] == "Đã hết hạn"
    assert VIETNAMESE[Reason.USED] == "Đã sử dụng"


def test_a_recurring_pass_admits_only_inside_each_days_window() -> None:
    day = 86400
    claims = replace(CLAIMS, span=3600, days=(0, 1, 3), expires=START + 3 * day + 3600)
    text = token.encode(claims, SEAL)
    on = dt.datetime.fromtimestamp(START + day + 60, dt.UTC)
    assert token.verify(text, KEYS, on).occurrence == 1
    between = dt.datetime.fromtimestamp(START + 2 * day + 60, dt.UTC)  # no session on day 2
    verdict = token.verify(text, KEYS, between)
    assert verdict.reason is Reason.NOT_YET_VALID
    assert "opens at" in verdict.detail
    evening = dt.datetime.fromtimestamp(START + 3 * day + 7200, dt.UTC)
    assert token.verify(text, KEYS, evening).reason is Reason.EXPIRED


def test_claims_round_trip_with_every_field() -> None:
    claims = replace(CLAIMS, entries=3, companions=2, rotating=True, version=4, span=7200, days=(0, 2),
                     expires=START + 2 * 86400 + 7200)  # fmt: skip
    verdict = token.verify(token.encode(claims, SEAL), KEYS, NOW)
    assert verdict.ok, verdict.detail
    assert verdict.claims == claims
    assert verdict.kid == SEAL.kid


def test_a_typical_token_is_short_and_all_in_the_qr_alphanumeric_set() -> None:
    text = genuine()
    assert len(text) < 320
    assert set(text) <= set(base45.ALPHABET)


def test_cccd_hash_depends_on_the_invitation() -> None:
    assert token.cccd_hash("a", "079203001234") != token.cccd_hash("b", "079203001234")
    assert len(token.cccd_hash("a", "079203001234")) == 16
