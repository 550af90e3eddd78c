"""Helpers for the invitation tests: throwaway seals (an EC key with a self-signed certificate)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from invitations.keys import PassSigner


def make_seal(curve: ec.EllipticCurve | None = None, name: str = "Test invitation seal") -> PassSigner:
    """A seal whose key lives only in this process (the real one is in the keystore)."""
    key = ec.generate_private_key(curve or ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    digest = hashes.SHA384() if isinstance(key.curve, ec.SECP384R1) else hashes.SHA256()
    return PassSigner(lambda data: key.sign(data, ec.ECDSA(digest)), certificate)


def instance_seal(instance) -> PassSigner:
    """The instance's real invitation seal: the service signer's key in custody, its certificate and chain."""
    from ca import service_signers

    with instance.db.reading() as session:
        delegated = service_signers.load(session, instance.ca, "invitation-seal")
    return PassSigner(delegated.signer.sign, delegated.certificate, tuple(delegated.chain))


def instance_context(instance, clock=None, seal: PassSigner | None = None):
    """An InvitationContext on the instance, its seal registered as trusted."""
    from invitations.service import InvitationContext, register_seal
    from keystore.secretbox import SecretBox

    context = InvitationContext(
        clock=clock or instance.ca.clock,
        box=SecretBox(instance.settings.master_key_bytes()),
        seal=seal or instance_seal(instance),
    )
    with instance.db.transaction() as session:
        register_seal(session, context)
    return context
