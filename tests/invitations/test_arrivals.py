"""Issue 21 in the domain: the arrival state every page shows (expected → inside → left, or no-show), the
desk's answer (next step, when/where an earlier use was, the host's contact, the CCCD card's result), the
guest's honorific, and retention per venue."""

from __future__ import annotations

import datetime as dt

from core.clock import VIETNAM
from invitations import checkin, retention, service, venues
from invitations.reasons import NEXT_ACTION, Reason
from invitations.service import Amendment
from tests.invitations import test_service
from tests.invitations.test_service import MEETING, World, invite, scan

world = test_service.world  # the same fixture: a venue with two desks, a host, a frozen clock


def _view(world: World, invitation_id: str) -> service.InvitationView:
    with world.instance.db.reading() as session:
        return service.view(session, world.context, invitation_id)


def test_the_arrival_state_follows_the_desk(world: World) -> None:
    created = invite(world, guest_title="Ông", host_contact="0283 829 1234")
    assert created.arrival is not None and created.arrival.state == "expected"
    assert (created.guest_title, created.host_contact) == ("Ông", "0283 829 1234")
    arrive = MEETING[0] - dt.timedelta(minutes=5)
    world.clock.set(arrive)
    decision = scan(world, created.payload)  # type: ignore[arg-type]
    assert decision.admitted and decision.as_json()["host_contact"] == "0283 829 1234"
    inside = _view(world, created.id).arrival
    assert inside is not None and (inside.state, inside.arrived_at, inside.left_at) == (
        "inside",
        arrive,
        None,
    )
    assert inside.as_json()["arrived_at"] == arrive.astimezone(VIETNAM).isoformat()
    leave = MEETING[1] + dt.timedelta(minutes=3)
    world.clock.set(leave)
    with world.instance.db.transaction() as session:
        desk = checkin.desk_for(session, world.desk, None)
        checkin.check_out(session, world.context, desk, checkin_id=decision.checkin_id)
    left = _view(world, created.id).arrival
    assert left is not None and (left.state, left.arrived_at, left.left_at) == ("left", arrive, leave)
    with world.instance.db.reading() as session:
        listed, _ = service.search(session, owner=world.host.account_id, venue=world.venue, now=leave)
    assert {v.id: v.arrival.state for v in listed if v.arrival}[created.id] == "left"


def test_a_guest_who_never_came_is_a_no_show_and_a_cancelled_one_cancelled(world: World) -> None:
    absent, cancelled = invite(world), invite(world)
    with world.instance.db.transaction() as session:
        service.cancel(session, world.context, cancelled.id)
    world.clock.set(MEETING[1] + dt.timedelta(minutes=1))
    assert _view(world, absent.id).arrival.state == "no-show"  # type: ignore[union-attr]
    assert _view(world, cancelled.id).arrival.state == "cancelled"  # type: ignore[union-attr]


def test_the_honorific_and_contact_are_amended_and_removed(world: World) -> None:
    created = invite(world, guest_title="Bà", host_contact="0909 000 111")
    with world.instance.db.transaction() as session:
        amended = service.amend(
            session, world.context, created.id, Amendment(guest_title="", host_contact="12")
        )
    assert (amended.guest_title, amended.host_contact) == (None, "12")


def test_a_used_deny_says_when_where_and_what_next(world: World) -> None:
    created = invite(world, entries=1)
    at = MEETING[0]
    world.clock.set(at)
    assert scan(world, created.payload).admitted  # type: ignore[arg-type]
    world.clock.set(at + dt.timedelta(minutes=7))
    other_desk = world.desk[:-1] + "b"
    denied = scan(world, created.payload, desk=other_desk).as_json()  # type: ignore[arg-type]
    assert denied["reason_code"] == "used"
    assert denied["last_used"] == {"at": at.astimezone(VIETNAM).isoformat(), "desk": world.desk}
    assert denied["next_action"] == NEXT_ACTION[Reason.USED]
    assert denied["next_action_en"] == "someone else may hold a copy: call the host"


def test_the_card_check_is_part_of_the_answer(world: World) -> None:
    card = "079203001234|025123456|Nguyễn Thị Minh Khai|01012003|Nữ|12 Lê Lợi|15082021"
    world.clock.set(MEETING[0])
    matched = scan(world, invite(world).payload, card_qr=card)  # type: ignore[arg-type]
    assert matched.admitted and matched.as_json()["card_check"] == "match"
    unnamed = scan(world, invite(world, cccd=None).payload, card_qr=card)  # type: ignore[arg-type]
    assert unnamed.admitted and unnamed.as_json()["card_check"] == "not_compared"
    plain = scan(world, invite(world).payload)  # type: ignore[arg-type]
    assert plain.as_json()["card_check"] is None and plain.as_json()["last_used"] is None


def test_a_venue_keeps_guest_data_for_its_own_number_of_days(world: World) -> None:
    short_venue = world.venue + "-short"
    with world.instance.db.transaction() as session:
        shown = venues.add(session, world.clock, short_venue, "Nhà khách", desks=[short_venue + "-g"],
                           retention_days=5)  # fmt: skip
        usual = venues.view(session, world.venue)
    assert (shown.keeps_for(90), usual.keeps_for(90), usual.retention_days) == (5, 90, None)
    short = invite(world, venue=short_venue)
    default = invite(world)
    with world.instance.db.transaction() as session:
        first = retention.anonymise(session, MEETING[1] + dt.timedelta(days=6), after_days=30)
    assert short.id in first and default.id not in first
    with world.instance.db.transaction() as session:
        later = retention.anonymise(session, MEETING[1] + dt.timedelta(days=31), after_days=30)
    assert default.id in later and short.id not in later  # done once
    assert _view(world, short.id).guest_name == retention.ANONYMOUS
