"""The same signing code with the key in a PKCS#11 token (SoftHSM2): the same validations."""

from __future__ import annotations

from pathlib import Path

import pytest

from signing.pades import Level
from store.models import StoredKey
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, nss_database, pdfsig, root_asn1, root_pem, sign_bytes
from tests.support.signing import signing_service as make_signing_service
from tests.support.softhsm import make_pkcs11_instance, softhsm_token  # noqa: F401 - the fixture
from tests.support.validators import pyhanko_verdicts


@pytest.mark.parametrize("level", [Level.B_B, Level.B_LT])
def test_a_token_key_signs_pdfs_that_validate(softhsm_token, tmp_path: Path, level: Level) -> None:  # noqa: F811
    instance = make_pkcs11_instance(tmp_path, softhsm_token)
    try:
        serial = issue_in_custody(instance, "official")
        with instance.db.reading() as session:
            backends = {key.backend for key in session.query(StoredKey)}
            wrapped = session.query(StoredKey).filter(StoredKey.wrapped_private_key.is_not(None)).count()
        assert backends == {"pkcs11"} and wrapped == 0  # no private key material outside the token

        signed, _ = sign_bytes(make_signing_service(instance), serial, sample_pdf(1), level=level)
        [verdict, *rest] = pyhanko_verdicts(signed, root_asn1(instance))
        assert verdict.intact and verdict.valid and verdict.trusted and not rest
        if level is Level.B_LT:
            assert verdict.revocation_checked and verdict.timestamp_trusted
        path = tmp_path / "signed.pdf"
        path.write_bytes(signed)
        [by_poppler] = pdfsig(path, nss_database(tmp_path / "nss", root_pem(instance)))
        assert by_poppler.signature_valid and by_poppler.certificate_trusted, by_poppler.raw
    finally:
        instance.db.dispose()


@pytest.mark.parametrize("backend", ["software", "pkcs11"])
def test_a_digest_computed_elsewhere_is_signed_as_csc_sign_hash_needs(
    softhsm_token,  # noqa: F811
    tmp_path: Path,
    backend: str,
) -> None:
    """``sign_prehashed`` (CSC signHash gets only the hash) gives the signature ``sign`` gives over the data:
    both verify with the certificate's key over the same data."""
    import hashlib

    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.conftest import make_instance

    instance = (
        make_pkcs11_instance(tmp_path, softhsm_token)
        if backend == "pkcs11"
        else make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")
    )
    try:
        serial = issue_in_custody(instance, "official")
        key = make_signing_service(instance).keys.signing_key(serial)
        data = b"signed attributes of a CMS signature"
        signature = key.signer.sign_prehashed(hashlib.sha256(data).digest())
        public = x509.load_der_x509_certificate(key.certificate_der).public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # raises if it is not over ``data``
        with pytest.raises(InvalidSignature):
            public.verify(signature, data + b"!", ec.ECDSA(hashes.SHA256()))
    finally:
        instance.db.dispose()
