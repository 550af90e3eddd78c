"""Offline desks: download a signed bundle, admit with the network down, reconnect, sync — and a pass
used at two offline desks is flagged as a conflict for review."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from cryptography import x509

from core.clock import FrozenClock
from core.errors import Kind, ServiceError
from invitations import checkin, offline, service, venues
from invitations.reasons import Reason
from invitations.service import Amendment, InvitationInput
from store import invitations_repo as repo
from store import repositories
from tests.conftest import Instance, make_account
from tests.support.clock import TUESDAY, upcoming
from tests.support.invitations import instance_context, make_seal

# Tuesday 08:30 in Hồ Chí Minh City, after the shared hierarchy was issued: its seal chains at T0
T0 = upcoming(8, 30, weekday=TUESDAY)
_numbers = itertools.count(1)


def root_of(instance: Instance) -> x509.Certificate:
    with instance.db.reading() as session:
        return x509.load_der_x509_certificate(repositories.authority(session, "root").certificate_der)  # type: ignore[union-attr]


@pytest.fixture
def setup(shared_instance: Instance, tmp_path: Path):
    clock = FrozenClock(T0)
    context = instance_context(shared_instance, clock)
    n = next(_numbers)
    venue, desks = f"PHUONG-{n}", [f"off{n}-a", f"off{n}-b"]
    official = make_account(shared_instance, "official")
    with shared_instance.db.transaction() as session:
        venues.add(session, clock, venue, "UBND Phường Tân Định", desks=desks)
        host = service.host_of(session, official.username)

    def invite(name: str) -> service.InvitationView:
        data = InvitationInput(guest_name=name, venue=venue, starts_at=T0 + dt.timedelta(minutes=30),
                               ends_at=T0 + dt.timedelta(hours=2))  # fmt: skip
        with shared_instance.db.transaction() as session:
            return service.create(session, context, host, data)

    return shared_instance, clock, context, venue, desks, invite, tmp_path


def download(instance: Instance, context, venue: str) -> bytes:
    with instance.db.reading() as session:
        return offline.build_bundle(session, context, venue)


def test_two_offline_desks_admit_one_pass_and_the_sync_flags_the_second(setup) -> None:
    instance, clock, context, venue, desks, invite, tmp = setup
    shared = invite("Lý Tự Trọng")
    cancelled = invite("Hủy Trước")
    amended = invite("Sửa Lại")
    with instance.db.transaction() as session:
        service.cancel(session, context, cancelled.id)
        newer = service.amend(session, context, amended.id, Amendment(meeting_title="Giờ mới"))
    data = download(instance, context, venue)
    late = invite("Đến Sau Bundle")  # invited after the download: the desk cannot know it

    # the network goes down: both gates work from the bundle
    clock.set(T0 + dt.timedelta(minutes=25))
    bundle = offline.open_bundle(data, [root_of(instance)], clock.now())
    gate_a = offline.OfflineDesk(bundle, desks[0], tmp / "a.jsonl", clock)
    gate_b = offline.OfflineDesk(bundle, desks[1], tmp / "b.jsonl", clock)
    first = gate_a.check(shared.payload)  # type: ignore[arg-type]
    assert first.admitted and first.host_name and "offline" in first.notes[0]
    assert gate_a.check(shared.payload).reason is Reason.USED  # type: ignore[arg-type]
    clock.advance(minutes=3)
    assert gate_b.check(shared.payload).admitted  # gate B cannot know  # type: ignore[arg-type]
    assert gate_b.check(cancelled.payload).reason is Reason.CANCELLED  # type: ignore[arg-type]
    assert gate_b.check(amended.payload).reason is Reason.SUPERSEDED  # type: ignore[arg-type]
    assert gate_b.check(newer.payload).admitted  # type: ignore[arg-type]
    unknown = gate_b.check(late.payload)  # type: ignore[arg-type]
    assert unknown.admitted and any("not in the bundle" in note for note in unknown.notes)
    assert gate_b.check("HC1:not ours").reason is Reason.NOT_OURS
    # a restarted desk remembers from its journal what it admitted
    again = offline.OfflineDesk(bundle, desks[0], tmp / "a.jsonl", clock)
    assert again.check(shared.payload).reason is Reason.USED  # type: ignore[arg-type]

    # the network is back: both desks sync
    clock.advance(minutes=30)
    with instance.db.transaction() as session:
        desk_a = checkin.desk_for(session, desks[0], None)
        desk_b = checkin.desk_for(session, desks[1], None)
        synced_a = offline.sync(session, context, desk_a, offline.read_journal(tmp / "a.jsonl"), "gate-a")
        synced_b = offline.sync(session, context, desk_b, offline.read_journal(tmp / "b.jsonl"), "gate-b")
    outcomes_a = [o.outcome for o in synced_a]
    assert outcomes_a == ["recorded", "denied", "denied"]
    by_invitation = {(o.invitation_id, o.outcome) for o in synced_b}
    assert (shared.id, "conflict") in by_invitation
    assert (amended.id, "recorded") in by_invitation and (late.id, "recorded") in by_invitation
    conflict = next(o for o in synced_b if o.outcome == "conflict")
    assert desks[0] in conflict.detail  # names where the pass was used first

    with instance.db.transaction() as session:
        resent = offline.sync(session, context, desk_a, offline.read_journal(tmp / "a.jsonl"), "gate-a")
        assert {o.outcome for o in resent} == {"duplicate"}
        flagged = [r for r in repo.offline_records(session, outcome="conflict", unreviewed=True)
                   if r.invitation_id == shared.id]  # fmt: skip
        assert len(flagged) == 1
        offline.review(session, flagged[0].id, "supervisor", clock.now())
        assert not [r for r in repo.offline_records(session, outcome="conflict", unreviewed=True)
                    if r.invitation_id == shared.id]  # fmt: skip
        assert len(repo.checkins_of(session, shared.id)) == 1
        assert repo.checkins_of(session, shared.id)[0].source == "offline"


def test_a_bundle_must_be_genuine_current_and_from_our_root(setup) -> None:
    instance, clock, context, venue, _, _, _ = setup
    data = download(instance, context, venue)
    root = root_of(instance)
    tampered = data.replace("UBND Phường Tân Định".encode(), "UBND Phường Tân Đinh".encode())
    assert tampered != data
    for bad, roots in [(tampered, [root]), (data, [make_seal().certificate]), (b"not a bundle", [root])]:
        with pytest.raises(ServiceError) as caught:
            offline.open_bundle(bad, roots, clock.now())
        assert caught.value.kind is Kind.MALFORMED
    with pytest.raises(ServiceError) as caught:
        offline.open_bundle(data, [root], clock.now() + dt.timedelta(days=2))
    assert caught.value.kind is Kind.EXPIRED


def test_a_forged_journal_line_is_rejected_at_sync(setup) -> None:
    instance, clock, context, _, desks, invite, _ = setup
    real = invite("Thật")
    clock.set(T0 + dt.timedelta(minutes=40))
    forged = make_seal()
    records = [
        {"record_id": "r1", "scanned_at": clock.now().isoformat(), "decision": "admit",
         "token": real.payload[:-6] + "ABCDEF", "invitation_id": real.id},  # type: ignore[index]
        {"record_id": "r2", "scanned_at": (clock.now() + dt.timedelta(hours=1)).isoformat(), "decision": "admit",
         "token": real.payload, "invitation_id": real.id},
    ]  # fmt: skip
    assert forged.kid != context.seal.kid
    with instance.db.transaction() as session:
        desk = checkin.desk_for(session, desks[0], None)
        outcomes = offline.sync(session, context, desk, records, "gate")
    assert [o.outcome for o in outcomes] == ["rejected", "rejected"]
    with instance.db.transaction() as session, pytest.raises(ServiceError):
        offline.sync(session, context, desk, [{"record_id": "r3", "scanned_at": "yesterday"}], "gate")


def test_an_offline_desk_keeps_a_block_list_hold(setup) -> None:
    """Issue 21: the bundle carries each invitation's hold, so an offline desk holds a listed guest too, and a
    sync of an admission made while the guest was held is a conflict."""
    from invitations import blocklist

    instance, clock, context, venue, desks, invite, tmp = setup
    name = f"Đinh Văn Bị Giữ {venue}"
    held, free = invite(name), invite(f"Đinh Văn Tự Do {venue}")
    with instance.db.transaction() as session:
        _, holding = blocklist.add_entry(session, b"k" * 32, name=name, cccd=None, reason="12/QĐ", by="admin",
                                         now=clock.now())  # fmt: skip
    assert holding == [held.id]
    data = download(instance, context, venue)
    clock.set(T0 + dt.timedelta(minutes=25))
    gate = offline.OfflineDesk(offline.open_bundle(data, [root_of(instance)], clock.now()), desks[0],
                               tmp / "held.jsonl", clock)  # fmt: skip
    assert gate.check(held.payload).reason is Reason.HELD  # type: ignore[arg-type]
    assert gate.check(free.payload).admitted  # type: ignore[arg-type]
