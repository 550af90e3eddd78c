import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import update

from core.clock import SystemClock
from core.errors import Kind, ServiceError
from keystore import SoftwareKeystore
from keystore.algorithms import rsa_pss_padding, signature_hash
from store.db import Database
from store.migrate import upgrade
from store.models import StoredKey


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'k.db'}")
    upgrade(database)
    return database


def test_keys_are_stored_wrapped_and_sign_after_unwrapping(db: Database) -> None:
    store = SoftwareKeystore(b"m" * 40, SystemClock())
    with db.transaction() as session:
        signer = store.generate(session, "ec-p256", "test")
    with db.transaction() as session:
        row = session.get(StoredKey, signer.key_id)
        assert row is not None and row.wrapped_private_key is not None
        assert b"PRIVATE KEY" not in row.wrapped_private_key
    fresh = SoftwareKeystore(b"m" * 40, SystemClock())
    with db.transaction() as session:
        again = fresh.signer(session, signer.key_id)
    public_key = again.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(again.sign(b"hello"), b"hello", ec.ECDSA(signature_hash("ec-p256")))


def test_wrong_master_key_does_not_unwrap(db: Database) -> None:
    with db.transaction() as session:
        signer = SoftwareKeystore(b"m" * 40, SystemClock()).generate(session, "ec-p256", "test")
    with db.transaction() as session, pytest.raises(ServiceError) as caught:
        SoftwareKeystore(b"n" * 40, SystemClock()).signer(session, signer.key_id)
    assert caught.value.kind is Kind.UNAVAILABLE
    assert "wrong KYSO_MASTER_KEY" in caught.value.message


def test_a_wrapped_key_copied_onto_another_row_does_not_unwrap(db: Database) -> None:
    store = SoftwareKeystore(b"m" * 40, SystemClock())
    with db.transaction() as session:
        first = store.generate(session, "ec-p256", "a")
        second = store.generate(session, "ec-p256", "b")
    with db.transaction() as session:
        blob = session.get(StoredKey, first.key_id).wrapped_private_key  # type: ignore[union-attr]
        session.execute(
            update(StoredKey).where(StoredKey.id == second.key_id).values(wrapped_private_key=blob)
        )
    with db.transaction() as session, pytest.raises(ServiceError):
        SoftwareKeystore(b"m" * 40, SystemClock()).signer(session, second.key_id)


def test_rsa_keys_sign_with_pss(db: Database) -> None:
    with db.transaction() as session:
        signer = SoftwareKeystore(b"m" * 40, SystemClock()).generate(session, "rsa-2048", "rsa")
    public_key = signer.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    signature = signer.sign(b"data")
    public_key.verify(signature, b"data", rsa_pss_padding("rsa-2048"), signature_hash("rsa-2048"))
    with pytest.raises(InvalidSignature):  # it is PSS, not PKCS#1 v1.5
        public_key.verify(signature, b"data", padding.PKCS1v15(), signature_hash("rsa-2048"))
