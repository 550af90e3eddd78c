"""ECDSA malleability (issue 16 item 16): for a valid signature (r, s), (r, n − s) is valid too, so a pass
could be re-encoded into a second, different text that verified. Kyso signs only low-s (s ≤ n/2) and its
verifiers — the pass (online and at the check-in fast path, which share ``token.verify``) and the offline
desk bundle — accept only that form."""

from __future__ import annotations

import datetime as dt

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from invitations import base45, offline, service, token, venues
from invitations.keys import ALG_ES256, ALG_ES384, ALGORITHMS, PassSigner
from invitations.reasons import Reason
from invitations.service import InvitationInput
from tests.conftest import Instance, make_account
from tests.invitations.test_offline import root_of
from tests.support.clock import TUESDAY, upcoming
from tests.support.invitations import instance_context, make_seal

T0 = upcoming(8, 30, weekday=TUESDAY)
CURVE_ORDERS = {  # n of P-256 and P-384 (SEC 2 §2.4.2, §2.5.1)
    ALG_ES256: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ALG_ES384: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}


def split(cose: bytes) -> tuple[cbor2.CBORTag, int, int, int]:
    """The COSE_Sign1, its coordinate size and (r, s)."""
    message = cbor2.loads(cose)
    alg = cbor2.loads(message.value[0])[token.HEADER_ALG]
    size = ALGORITHMS[alg][1]
    signature = message.value[3]
    return message, size, int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")


def with_s(cose: bytes, s: int) -> bytes:
    message, size, r, _ = split(cose)
    parts = list(message.value)
    parts[3] = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return cbor2.dumps(cbor2.CBORTag(message.tag, parts), canonical=True)


def malleated(text: str) -> str:
    """The same pass with s replaced by n − s: what anyone holding it could make."""
    cose = base45.decode(text.removeprefix(token.PREFIX))
    message, _, _, s = split(cose)
    n = CURVE_ORDERS[cbor2.loads(message.value[0])[token.HEADER_ALG]]
    return token.PREFIX + base45.encode(with_s(cose, n - s))


@pytest.fixture
def world(shared_instance: Instance):
    clock = FrozenClock(T0)
    context = instance_context(shared_instance, clock)  # the instance's real seal, its key in custody
    official = make_account(shared_instance, "official")
    venue = f"LOW-S-{official.username}"
    with shared_instance.db.transaction() as session:
        venues.add(session, clock, venue, "UBND Phường Bến Nghé", desks=[f"{venue}-d"])
        host = service.host_of(session, official.username)
    return shared_instance, clock, context, venue, host


def test_a_malleated_pass_is_refused_and_kyso_signs_low_s(world) -> None:
    instance, _, context, venue, host = world
    data = InvitationInput(guest_name="Võ Văn Kiệt", venue=venue, starts_at=T0 + dt.timedelta(minutes=30),
                           ends_at=T0 + dt.timedelta(hours=2))  # fmt: skip
    with instance.db.transaction() as session:
        created = service.create(session, context, host, data)
        invitation = service.view(session, context, created.id, None, with_payload=True)
        keys = context.keys(session)
        passes = [invitation.payload] + [
            service.pass_text(context, session, created.id) for _ in range(40)
        ]  # each freshly signed: with high-s signing, about half would be high-s
    n = CURVE_ORDERS[context.require_seal().alg]
    at = T0 + dt.timedelta(minutes=20)
    for text in passes:
        assert text is not None
        _, _, _, s = split(base45.decode(text.removeprefix(token.PREFIX)))
        assert 0 < s <= n // 2, "Kyso signed a high-s pass"
        assert token.verify(text, keys, at).ok
        forged = malleated(text)
        assert forged != text
        verdict = token.verify(forged, keys, at)
        assert not verdict.ok and verdict.reason is Reason.FORGED, verdict


def test_a_seal_whose_signer_gives_high_s_still_signs_low_s() -> None:
    for curve in (ec.SECP256R1(), ec.SECP384R1()):
        inner = make_seal(curve)
        n = CURVE_ORDERS[inner.alg]

        def high_s(data: bytes, inner: PassSigner = inner, n: int = n) -> bytes:
            r, s = decode_dss_signature(inner.sign_der(data))
            return encode_dss_signature(r, s if s > n // 2 else n - s)

        seal = PassSigner(high_s, inner.certificate)
        size = ALGORITHMS[seal.alg][1]
        signature = seal.sign(b"data")
        assert 0 < int.from_bytes(signature[size:], "big") <= n // 2


def test_a_malleated_desk_bundle_is_refused(world) -> None:
    instance, clock, context, venue, _ = world
    with instance.db.reading() as session:
        bundle = offline.build_bundle(session, context, venue)
    root = root_of(instance)
    assert offline.open_bundle(bundle, [root], clock.now()).venue_code == venue
    message, _, _, s = split(bundle)
    n = CURVE_ORDERS[cbor2.loads(message.value[0])[token.HEADER_ALG]]
    with pytest.raises(ServiceError) as caught:
        offline.open_bundle(with_s(bundle, n - s), [root], clock.now())
    assert caught.value.kind is Kind.MALFORMED
