"""Suspend, reinstate, revoke, renew and search, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ca import lifecycle
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from tests.conftest import Instance, make_instance

AN = SubjectFields(surname="Nguyễn", given_name="Văn An", cccd="079203001234")


def issue(instance: Instance, subject: SubjectFields = AN, **kwargs: object) -> str:
    with instance.db.transaction() as session:
        return instance.ca.issue(session, IssueRequest("citizen", subject, **kwargs)).certificate.serial  # type: ignore[arg-type]


def act(instance: Instance, action, *args: object, **kwargs: object):
    with instance.db.transaction() as session:
        return action(instance.ca, session, *args, **kwargs)


def refused(instance: Instance, kind: Kind, action, *args: object) -> str:
    before = instance.counts()
    with pytest.raises(ServiceError) as caught:
        act(instance, action, *args)
    assert caught.value.kind is kind, caught.value.message
    assert instance.counts() == before
    return caught.value.message


def test_suspend_reinstate_revoke(shared_instance: Instance) -> None:
    serial = issue(shared_instance)
    assert act(shared_instance, lifecycle.suspend, serial).status == "suspended"
    assert "already suspended" in refused(shared_instance, Kind.CONFLICT, lifecycle.suspend, serial)
    assert act(shared_instance, lifecycle.reinstate, serial).status == "valid"
    assert "not suspended" in refused(shared_instance, Kind.CONFLICT, lifecycle.reinstate, serial)
    compromised = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    info = act(shared_instance, lifecycle.revoke, serial, "key-compromise", compromised)
    assert (info.status, info.revocation_reason) == ("revoked", "key-compromise")
    assert info.invalidity_date is not None and abs(info.invalidity_date - compromised) < dt.timedelta(
        seconds=1
    )
    assert "already revoked" in refused(
        shared_instance, Kind.CONFLICT, lifecycle.revoke, serial, "superseded"
    )
    assert "can never be reinstated" in refused(shared_instance, Kind.CONFLICT, lifecycle.reinstate, serial)
    assert "revoked" in refused(shared_instance, Kind.CONFLICT, lifecycle.suspend, serial)


def test_a_suspended_certificate_can_be_revoked(shared_instance: Instance) -> None:
    serial = issue(shared_instance)
    act(shared_instance, lifecycle.suspend, serial)
    assert act(shared_instance, lifecycle.revoke, serial, "cessation-of-operation").status == "revoked"


def test_unknown_serial_reason_and_hold_are_refused(shared_instance: Instance) -> None:
    assert "no certificate with serial" in refused(
        shared_instance, Kind.NOT_FOUND, lifecycle.revoke, "0badc0de", "unspecified"
    )
    assert "not a certificate serial" in refused(shared_instance, Kind.MALFORMED, lifecycle.show, "xyz")
    serial = issue(shared_instance)
    assert "unknown revocation reason" in refused(
        shared_instance, Kind.MALFORMED, lifecycle.revoke, serial, "bored"
    )
    assert "suspend" in refused(shared_instance, Kind.MALFORMED, lifecycle.revoke, serial, "certificate-hold")


def test_serials_are_accepted_in_the_forms_people_paste(shared_instance: Instance) -> None:
    serial = issue(shared_instance)
    colon_form = ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).upper()
    assert act(shared_instance, lifecycle.show, colon_form).serial == serial
    assert act(shared_instance, lifecycle.show, "0x" + serial).serial == serial


def test_renew_rekeys_and_supersedes(shared_instance: Instance) -> None:
    old = issue(shared_instance)
    with shared_instance.db.transaction() as session:
        renewed = lifecycle.renew(shared_instance.ca, session, old).certificate
    assert renewed.serial != old and renewed.renewed_from == old
    assert renewed.subject_fields == act(shared_instance, lifecycle.show, old).subject_fields
    assert renewed.certificate_pem != act(shared_instance, lifecycle.show, old).certificate_pem
    old_info = act(shared_instance, lifecycle.show, old)
    assert (old_info.status, old_info.revocation_reason) == ("revoked", "superseded")
    assert "only a valid certificate" in refused(shared_instance, Kind.CONFLICT, lifecycle.renew, old)


def test_search_by_cccd_name_and_status(shared_instance: Instance) -> None:
    subject = SubjectFields(surname="Phạm", given_name="Thị Hoa", cccd="001190654321")
    serial = issue(shared_instance, subject)
    found, total = act(shared_instance, lifecycle.search, cccd="001190654321")
    assert total >= 1 and serial in [i.serial for i in found]
    found, _ = act(shared_instance, lifecycle.search, name="thị hoa")
    assert serial in [i.serial for i in found]
    act(shared_instance, lifecycle.revoke, serial, "affiliation-changed")
    found, _ = act(shared_instance, lifecycle.search, status="revoked", cccd="001190654321")
    assert [i.serial for i in found] == [serial]
    found, _ = act(shared_instance, lifecycle.search, status="valid", cccd="001190654321")
    assert serial not in [i.serial for i in found]
    with pytest.raises(ServiceError, match="unknown status"):
        act(shared_instance, lifecycle.search, status="bogus")


def test_expired_certificates_cannot_come_back_or_be_renewed(tmp_path: Path) -> None:
    clock = FrozenClock(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'e.db'}", clock=clock)
    serial = issue(instance)
    other = issue(instance)
    act(instance, lifecycle.suspend, serial)
    clock.advance(days=800)  # citizen certificates live 730 days
    assert act(instance, lifecycle.show, other).status == "expired"
    assert "expired" in refused(instance, Kind.CONFLICT, lifecycle.reinstate, serial)
    assert "expired" in refused(instance, Kind.CONFLICT, lifecycle.suspend, other)
    assert "cannot be renewed" in refused(instance, Kind.CONFLICT, lifecycle.renew, other)
    found, _ = act(instance, lifecycle.search, status="expired")
    assert {serial, other} <= {i.serial for i in found}
