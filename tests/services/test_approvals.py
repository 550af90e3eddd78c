"""services.approvals, N of M: with a policy, revoking an official's or agency seal's certificate files a
request instead; the requester cannot approve it; the last approval needed revokes it (audited, naming
the requester and the approvers); one rejection ends a request; a request not approved in time expires;
citizens' certificates and instances without a policy revoke at once."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest

from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from identity import audit
from services import approvals, certificates
from services.audit import Actor
from services.root import Kyso
from tests.conftest import Instance

AN = Actor("an", "203.0.113.1", 1, "ca-operator")
BINH = Actor("binh", "203.0.113.2", 2, "ca-operator")
CHI = Actor("chi", "203.0.113.3", 3, "ca-operator")
ADMIN = Actor("dung", "203.0.113.4", 4, "admin")
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


def official(kyso: Kyso) -> str:
    subject = SubjectFields(surname="Lê", given_name="Minh", cccd=f"001190{next(_numbers):06d}",
                            organization="UBND Phường Bến Thành")  # fmt: skip
    return certificates.issue(kyso, AN, IssueRequest("official", subject)).certificate.serial


def citizen(kyso: Kyso) -> str:
    subject = SubjectFields(surname="Trần", given_name="Bình", cccd=f"079205{next(_numbers):06d}")
    return certificates.issue(kyso, AN, IssueRequest("citizen", subject)).certificate.serial


def trail(kyso: Kyso, target: str) -> list[tuple[str, str, dict]]:
    with kyso.db.reading() as session:
        return [(e.actor, e.action, e.details) for e in reversed(audit.concerning(session, target, 50))]


def test_without_a_policy_an_official_certificate_is_revoked_at_once(kyso: Kyso) -> None:
    approvals.set_policy(kyso, ADMIN, "certificate.revoke", 0)
    serial = official(kyso)
    assert certificates.revoke(kyso, AN, serial, "affiliation-changed").status == "revoked"


def test_two_of_three_revoke_an_official_certificate(kyso: Kyso) -> None:
    approvals.set_policy(kyso, ADMIN, "certificate.revoke", 2, lifetime_hours=48)
    assert {"action": "certificate.revoke", "required": 2, "lifetime_hours": 48} in approvals.policies(kyso)
    serial = official(kyso)
    with pytest.raises(approvals.Pending) as pending:
        certificates.revoke(kyso, AN, serial, "cessation-of-operation")
    request = pending.value.approval
    assert pending.value.details == {"approval_request": request.id, "approvals_required": 2}
    assert certificates.show(kyso, serial).status == "valid", "nothing is revoked before the approvals"
    assert request.id in [a.id for a in approvals.listing(kyso)]

    with pytest.raises(ServiceError) as own:
        approvals.approve(kyso, AN, request.id)
    assert own.value.kind is Kind.FORBIDDEN and "requester" in own.value.message
    with pytest.raises(ServiceError) as admin:
        approvals.approve(kyso, ADMIN, request.id)  # admins do not revoke certificates
    assert admin.value.kind is Kind.FORBIDDEN
    with pytest.raises(ServiceError) as twice:
        certificates.revoke(kyso, BINH, serial, "superseded")
    assert twice.value.kind is Kind.CONFLICT and "already waits" in twice.value.message

    first = approvals.approve(kyso, BINH, request.id, "đúng quyết định 12/QĐ")
    assert (first.status, first.waiting_for, first.approved_by) == ("pending", 1, ("binh",))
    assert certificates.show(kyso, serial).status == "valid"
    with pytest.raises(ServiceError) as again:
        approvals.approve(kyso, BINH, request.id)
    assert again.value.kind is Kind.CONFLICT

    done = approvals.approve(kyso, CHI, request.id)
    assert (done.status, done.waiting_for) == ("approved", 0)
    info = certificates.show(kyso, serial)
    assert (info.status, info.revocation_reason) == ("revoked", "cessation-of-operation")
    assert trail(kyso, serial)[-1] == (
        "an", "certificate.revoke",
        {"reason": "cessation-of-operation", "approval": request.id, "approved_by": ["binh", "chi"]},
    )  # fmt: skip
    assert [(actor, action) for actor, action, _ in trail(kyso, f"approval:{request.id}")] == [
        ("an", "approval.request"), ("binh", "approval.approve"), ("chi", "approval.approve"),
    ]  # fmt: skip
    with pytest.raises(ServiceError) as late:
        approvals.reject(kyso, BINH, request.id)
    assert late.value.kind is Kind.CONFLICT and request.id not in [a.id for a in approvals.listing(kyso)]


def test_one_rejection_ends_a_request_and_citizens_are_not_held(kyso: Kyso) -> None:
    approvals.set_policy(kyso, ADMIN, "certificate.revoke", 1)
    assert certificates.revoke(kyso, AN, citizen(kyso), "key-compromise").status == "revoked"
    serial = official(kyso)
    with pytest.raises(approvals.Pending) as pending:
        certificates.revoke(kyso, AN, serial, "key-compromise")
    rejected = approvals.reject(kyso, BINH, pending.value.approval.id, "chưa có quyết định")
    assert (rejected.status, rejected.rejected_by) == ("rejected", ("binh",))
    with pytest.raises(ServiceError) as closed:
        approvals.approve(kyso, CHI, rejected.id)
    assert closed.value.kind is Kind.CONFLICT and certificates.show(kyso, serial).status == "valid"
    # a bad reason is refused when asked, not filed
    with pytest.raises(ServiceError) as bad:
        certificates.revoke(kyso, AN, serial, "lost-it")
    assert bad.value.kind is Kind.MALFORMED


def test_a_request_not_approved_in_time_expires(kyso: Kyso, shared_instance: Instance) -> None:
    approvals.set_policy(kyso, ADMIN, "certificate.revoke", 1, lifetime_hours=2)
    serial = official(kyso)
    with pytest.raises(approvals.Pending) as pending:
        certificates.revoke(kyso, AN, serial, "privilege-withdrawn")
    request = pending.value.approval
    later = Kyso(shared_instance.settings, FrozenClock(request.expires_at + dt.timedelta(seconds=1)),
                 shared_instance.runtime)  # fmt: skip
    assert approvals.show(later, request.id).status == "expired"
    with pytest.raises(ServiceError) as expired:
        approvals.approve(later, BINH, request.id)
    assert expired.value.kind is Kind.EXPIRED
    assert (
        approvals.show(kyso, request.id).status == "expired"
        and certificates.show(kyso, serial).status == "valid"
    )
    assert trail(kyso, f"approval:{request.id}")[-1][1] == "approval.expire"
    # the action can be asked for again
    with pytest.raises(approvals.Pending):
        certificates.revoke(kyso, AN, serial, "privilege-withdrawn")


def test_bad_policies_are_refused(kyso: Kyso) -> None:
    for action, required in (
        ("ca.delete-everything", 1),
        ("certificate.revoke", -1),
        ("certificate.revoke", 10),
    ):
        with pytest.raises(ServiceError) as refused:
            approvals.set_policy(kyso, ADMIN, action, required)
        assert refused.value.kind is Kind.MALFORMED
    with pytest.raises(ServiceError) as missing:
        approvals.show(kyso, 999_999)
    assert missing.value.kind is Kind.NOT_FOUND


def test_granting_the_ca_operator_role_waits_for_a_second_admin(kyso: Kyso) -> None:
    from services import administration

    giang = Actor("giang", "203.0.113.5", 5, "admin")
    approvals.set_policy(kyso, ADMIN, "account.grant-role", 1)
    try:
        name = f"thu{next(_numbers)}"
        administration.create_account(kyso, ADMIN, username=name, role="official")
        with pytest.raises(ServiceError) as outright:
            administration.create_account(kyso, ADMIN, username=f"x{name}", role="ca-operator")
        assert outright.value.kind is Kind.FORBIDDEN and "needs approval" in outright.value.message
        assert administration.set_role(kyso, ADMIN, name, "clerk").role == "clerk"  # not a privileged role
        with pytest.raises(approvals.Pending) as pending:
            administration.set_role(kyso, ADMIN, name, "ca-operator")
        request = pending.value.approval
        assert [a.role for a in administration.list_accounts(kyso) if a.username == name] == ["clerk"]
        with pytest.raises(ServiceError) as operator:
            approvals.approve(kyso, BINH, request.id)  # a CA operator does not manage accounts
        assert operator.value.kind is Kind.FORBIDDEN
        assert approvals.approve(kyso, giang, request.id).status == "approved"
        assert [a.role for a in administration.list_accounts(kyso) if a.username == name] == ["ca-operator"]
        assert trail(kyso, name)[-1][:2] == ("dung", "account.role")
    finally:
        approvals.set_policy(kyso, ADMIN, "account.grant-role", 0)


def test_trust_changes_wait_and_bad_ones_are_refused_at_once(kyso: Kyso) -> None:
    from cryptography.hazmat.primitives import serialization

    from services import audit_log, verification
    from tests.pages.test_console_trust import a_root

    approvals.set_policy(kyso, ADMIN, "trust.change", 1)
    try:
        root = a_root("Root CA thử nghiệm phê duyệt")
        pem = root.public_bytes(serialization.Encoding.PEM)
        with pytest.raises(ServiceError) as bad:
            verification.add_anchor(kyso, AN, "hong", b"not a certificate")
        assert bad.value.kind is Kind.MALFORMED  # the dry run refused it: nothing filed
        assert all(a.target != "add:hong" for a in approvals.listing(kyso))
        with pytest.raises(approvals.Pending) as pending:
            verification.add_anchor(kyso, AN, "phe-duyet", pem)
        assert "phe-duyet" not in [a.label for a in verification.anchors_listing(kyso).added]
        approvals.approve(kyso, BINH, pending.value.approval.id)
        assert "phe-duyet" in [a.label for a in verification.anchors_listing(kyso).added]
        with pytest.raises(approvals.Pending) as removal:
            verification.remove_anchor(kyso, AN, "phe-duyet")
        approvals.reject(kyso, AN, removal.value.approval.id)  # the requester withdraws it
        assert "phe-duyet" in [a.label for a in verification.anchors_listing(kyso).added]
        assert audit_log.verify(kyso).ok, "the dry runs' rolled-back entries left the chain whole"
    finally:
        approvals.set_policy(kyso, ADMIN, "trust.change", 0)
        verification.remove_anchor(kyso, AN, "phe-duyet")


def test_an_approved_action_refused_when_run_ends_the_request_as_failed(kyso: Kyso) -> None:
    approvals.set_policy(kyso, ADMIN, "certificate.revoke", 1)
    try:
        serial = official(kyso)
        with pytest.raises(approvals.Pending) as pending:
            certificates.revoke(kyso, AN, serial, "key-compromise")
        certificates.renew(kyso, BINH, serial)  # the renewal revokes it (superseded) meanwhile
        failed = approvals.approve(kyso, CHI, pending.value.approval.id)
        assert (failed.status, failed.approved_by) == ("failed", ("chi",))
        assert certificates.show(kyso, serial).revocation_reason == "superseded"
        assert trail(kyso, f"approval:{failed.id}")[-1][1] == "approval.fail"
    finally:
        approvals.set_policy(kyso, ADMIN, "certificate.revoke", 0)
