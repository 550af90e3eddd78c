"""The invitation seal: an ECDSA P-256 service signer issued by the Government CA, created by `kyso init`
— also on an instance initialised before invitations existed, and only once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete

from ca.hierarchy import initialise
from core.clock import FrozenClock
from invitations import token
from invitations.keys import ALG_ES256, KeySet
from store import repositories
from store.models import ServiceSigner
from tests.conftest import Instance, make_instance
from tests.support.invitations import instance_seal


def test_the_seal_is_a_p256_key_certified_by_the_government_ca(shared_instance: Instance) -> None:
    seal = instance_seal(shared_instance)
    certificate = seal.certificate
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert certificate.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert seal.alg == ALG_ES256 and len(seal.kid) == 8
    assert certificate.issuer == seal.chain[0].subject
    assert "Government" in seal.chain[0].subject.rfc4514_string()
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment
    claims = token.InvitationClaims("abcdefghijkmnpqr", "UBND-BT", "Đỗ Mười", 0, 2**31, b"\x07" * 8)
    verdict = token.verify(
        token.encode(claims, seal), KeySet.of([seal.trusted_key()]), dt.datetime.now(dt.UTC)
    )
    assert verdict.ok, verdict.detail


def test_init_adds_a_missing_seal_to_an_existing_hierarchy_once(tmp_path: Path) -> None:
    instance = make_instance(
        tmp_path, f"sqlite:///{tmp_path / 'old.db'}", clock=FrozenClock(dt.datetime.now(dt.UTC))
    )
    with instance.db.transaction() as session:  # as if initialised before invitations existed
        session.execute(delete(ServiceSigner).where(ServiceSigner.id == "invitation-seal"))
    with instance.db.transaction() as session:
        report = initialise(session, instance.ca, "ec-p384")
    assert not report.created and "invitation-seal" in report.service_signers
    before = instance.counts()
    with instance.db.transaction() as session:
        again = initialise(session, instance.ca, "ec-p384")
        signers = [s.id for s in repositories.service_signers(session)]
    assert instance.counts() == before  # nothing issued the second time
    assert sorted(again.service_signers) == sorted(signers)
    assert signers.count("invitation-seal") == 1
    assert instance_seal(instance).certificate.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
