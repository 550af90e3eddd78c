"""services.signing called directly, as the shells call it: each signing step writes its audit entry in
its own transaction, a refused step writes the refusal the API always wrote, and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Iterator

import pytest

from core.errors import Kind, ServiceError
from identity import accounts
from identity.permissions import permissions_of
from identity.sessions import Principal
from services import signing
from services.audit import Actor
from services.root import Kyso
from signing import registry
from signing.pades import Level
from signing.service import Appearance, DocumentIn, DocumentOut, SignRequest
from tests.conftest import Instance, TestAccount
from tests.services.entries import entries_after, head
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder, issue_in_custody

OPERATOR = Actor("cli:operator", "cli")


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


def signer(kyso: Kyso, instance: Instance) -> tuple[TestAccount, Principal, Actor]:
    """An official with her own certificate bound, as the API names her: principal and actor."""
    account, serial = holder(instance, "official")
    signing.bind_credential(kyso, OPERATOR, account.username, serial)
    with kyso.db.transaction() as session:
        row = accounts.get(session, account.username)
        row.totp_confirmed = True  # as her first login with a code would have done
        account_id = row.id
    principal = Principal(account_id, account.username, "official", permissions_of("official"), "bearer")
    return account, principal, Actor(account.username, "198.51.100.7", account_id, "official")


def test_bind_writes_its_entry_as_the_actor(kyso: Kyso, shared_instance: Instance) -> None:
    account, serial = holder(shared_instance, "official")
    before = head(kyso)
    bound = signing.bind_credential(kyso, OPERATOR, account.username.upper(), serial)
    assert bound.certificate_serial == serial and bound.purpose == "sign"
    assert entries_after(kyso, before) == [
        ("cli:operator", "signing.credential.bind", account.username, "cli", "success",
         {"serial": serial, "purpose": "sign"}),
    ]  # fmt: skip


def test_a_refused_bind_writes_no_entry(kyso: Kyso, shared_instance: Instance) -> None:
    account, _ = holder(shared_instance, "official")
    someone_elses = issue_in_custody(shared_instance, "official")
    before = head(kyso)
    with pytest.raises(ServiceError):
        signing.bind_credential(kyso, OPERATOR, account.username, someone_elses)
    assert entries_after(kyso, before) == []


def test_a_wrong_code_is_counted_and_its_refusal_written(kyso: Kyso, shared_instance: Instance) -> None:
    account, principal, actor = signer(kyso, shared_instance)
    wrong = account.code(at=time.time() - 86_400)
    before = head(kyso)
    with pytest.raises(ServiceError) as refused:
        signing.authorize(kyso, actor, principal, hashes=["ab" * 32], code=wrong)
    assert refused.value.kind is Kind.FORBIDDEN
    # the failure count was committed with the authorisation's transaction, then the refusal written
    with kyso.db.reading() as session:
        assert accounts.get(session, account.username).code_failures == 1
    assert entries_after(kyso, before) == [
        (account.username, "signing.authorize", None, "198.51.100.7", "refused",
         {"reason": refused.value.message}),
    ]  # fmt: skip


def test_authorise_sign_a_digest_and_refuse_a_second_use(kyso: Kyso, shared_instance: Instance) -> None:
    account, principal, actor = signer(kyso, shared_instance)
    digest = hashlib.sha256(b"the byte ranges of a PDF").hexdigest()
    before = head(kyso)
    granted = signing.authorize(kyso, actor, principal, hashes=[digest.upper()], code=account.code())
    assert granted.document_hashes == [digest]
    made = asyncio.run(signing.sign_hash(kyso, actor, principal, granted.id, [digest], "b-b"))
    [(signed_digest, cms)] = made.signatures
    assert signed_digest == digest and cms[:1] == b"\x30"  # a DER SEQUENCE: the ContentInfo
    [(_, _, _, _, _, authorised), sign_entry] = entries_after(kyso, before)
    assert authorised == {"authorization": granted.id, "documents": [digest],
                          "credential": granted.credential_id}  # fmt: skip
    assert sign_entry == (account.username, "document.sign-hash", made.certificate_serial, "198.51.100.7",
                          "success", {"hashes": [digest], "authorization": granted.id})  # fmt: skip

    again = head(kyso)
    with pytest.raises(ServiceError) as refused:
        asyncio.run(signing.sign_hash(kyso, actor, principal, granted.id, [digest], "b-b"))
    assert refused.value.kind is Kind.CONFLICT
    assert entries_after(kyso, again) == [
        (account.username, "document.sign-hash", None, "198.51.100.7", "refused",
         {"reason": refused.value.message}),
    ]  # fmt: skip


def test_an_unknown_authorisation_signs_nothing_and_is_written(kyso: Kyso, shared_instance: Instance) -> None:
    _, principal, actor = signer(kyso, shared_instance)

    class Upload:
        filename, size = "letter.pdf", None
        file = io.BytesIO(sample_pdf(1))

    before = head(kyso)
    with pytest.raises(ServiceError) as refused:
        asyncio.run(signing.sign(kyso, actor, principal, "made-up", [Upload()], level="b-b"))
    assert refused.value.kind is Kind.FORBIDDEN
    assert [e[1:5] for e in entries_after(kyso, before)] == [
        ("document.sign", None, "198.51.100.7", "refused")
    ]


def test_sign_in_custody_registers_and_delivers_in_one_transaction(
    kyso: Kyso, shared_instance: Instance
) -> None:
    serial = issue_in_custody(shared_instance, "official")
    request = SignRequest(level=Level.B_B, appearance=Appearance.INVISIBLE)

    def lost(signed: DocumentOut) -> None:
        raise OSError("the disk is full")

    before = head(kyso)
    with pytest.raises(OSError):
        asyncio.run(signing.sign_in_custody(
            kyso, OPERATOR, serial, DocumentIn("a.pdf", io.BytesIO(sample_pdf(1))), request, lost
        ))  # fmt: skip
    assert entries_after(kyso, before) == []  # a failed delivery: no entry, and nothing registered

    delivered: list[bytes] = []
    signed, key = asyncio.run(signing.sign_in_custody(
        kyso, OPERATOR, serial, DocumentIn("a.pdf", io.BytesIO(sample_pdf(1))), request,
        lambda out: delivered.append(out.output.read()),
    ))  # fmt: skip
    assert key.serial == serial and hashlib.sha256(delivered[0]).hexdigest() == signed.record.sha256
    with kyso.db.reading() as session:
        assert registry.find(session, signed.record.id) is not None
    assert entries_after(kyso, before) == [
        ("cli:operator", "document.sign", signed.record.id, "cli", "success",
         {"sha256": signed.record.sha256, "input_sha256": signed.record.input_sha256, "serial": serial,
          "level": "b-b"}),
    ]  # fmt: skip
