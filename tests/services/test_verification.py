"""services.verification called directly, as the API, the pages and `kyso verify` call it: a report names
what this service registered, the verifier is kept per trust list, and each change of the trust list writes
its audit entry in its transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.errors import Kind, ServiceError
from identity import audit
from services import verification
from services.audit import Actor
from services.root import Kyso
from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.conftest import Instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, signing_service

OPERATOR = Actor("alice", "203.0.113.5", 3, "ca-operator")


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


@pytest.fixture(scope="module")
def signed(shared_instance: Instance) -> tuple[bytes, str]:
    """A PDF signed by the service and registered, as the signing route registers it."""
    service = signing_service(shared_instance)
    key = service.keys.signing_key(issue_in_custody(shared_instance, "official"))
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE)
    [out] = asyncio.run(service.sign(key, [DocumentIn("d.pdf", io.BytesIO(sample_pdf(1)))], request))
    with shared_instance.db.transaction() as session:
        registry.record(session, out.record, None)
    return out.output.read(), out.record.id


def another_root() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another test root")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return certificate.public_bytes(serialization.Encoding.PEM)


def entries_after(kyso: Kyso, seq: int) -> list[tuple[str, str, str | None, str | None, dict | None]]:
    with kyso.db.reading() as session:
        return [
            (e.actor, e.action, e.source, e.outcome, e.details) for e in audit.entries(session, after=seq)
        ]


def head(kyso: Kyso) -> int:
    with kyso.db.reading() as session:
        return audit.current_head(session)[0]


def test_a_report_names_the_registered_document_and_the_verifier_is_kept(
    kyso: Kyso, signed: tuple[bytes, str]
) -> None:
    data, record_id = signed
    report = verification.verify(kyso, data)
    assert [s.indication.value for s in report.signatures] == ["TOTAL-PASSED"]
    assert [r.id for r in report.issued_by_us] == [record_id]
    with kyso.db.reading() as session:
        store = verification.trust_list(session, kyso)
    assert kyso.verifiers.for_trust(store) is kyso.verifiers.for_trust(store)  # parsed once per trust list
    [worker] = kyso.verifiers.pool_for(store).idle_pids()  # checked in a kept worker, not a child each time
    assert verification.verify(kyso, data).sha256 == report.sha256
    assert kyso.verifiers.pool_for(store).idle_pids() == [worker]
    assert verification.registered(kyso, record_id).sha256 == report.sha256
    with pytest.raises(ServiceError) as missing:
        verification.registered(kyso, "0" * 40)
    assert missing.value.kind is Kind.NOT_FOUND


def test_a_trust_list_given_instead_of_the_instances_does_not_trust_kyso(
    kyso: Kyso, signed: tuple[bytes, str]
) -> None:
    from verification.trust import TrustStore

    report = verification.verify(kyso, signed[0], trust=TrustStore.from_pem("file:other.pem", another_root()))
    assert [s.trusted for s in report.signatures] == [False]
    assert report.issued_by_us  # what the service registered is said whatever the trust list


def test_adding_and_removing_an_anchor_writes_its_entries_and_renews_the_verifier(
    kyso: Kyso, signed: tuple[bytes, str]
) -> None:
    with kyso.db.reading() as session:
        before_store = verification.trust_list(session, kyso)
    before, verifier = head(kyso), kyso.verifiers.for_trust(before_store)
    verification.verify(kyso, signed[0])
    old_pool = kyso.verifiers.pool_for(before_store)
    assert old_pool.idle_pids()
    added = verification.add_anchor(kyso, OPERATOR, "another-root", another_root())
    listing = verification.anchors_listing(kyso)
    assert added.fingerprint in listing.fingerprints and [a.label for a in listing.added] == ["another-root"]
    with kyso.db.reading() as session:
        assert kyso.verifiers.for_trust(verification.trust_list(session, kyso)) is not verifier
    assert old_pool.idle_pids() == []  # the workers that knew the old trust list are retired
    removed = verification.remove_anchor(kyso, OPERATOR, "another-root")
    assert removed.fingerprint == added.fingerprint and verification.anchors_listing(kyso).added == []
    assert entries_after(kyso, before) == [
        ("alice", "trust.add", "203.0.113.5", "success", {"label": "another-root", "subject": added.subject}),
        ("alice", "trust.remove", "203.0.113.5", "success", {"label": "another-root"}),
    ]
    with pytest.raises(ServiceError):
        verification.remove_anchor(kyso, OPERATOR, "another-root")
    assert len(entries_after(kyso, before)) == 2
