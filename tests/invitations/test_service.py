"""Invitations and desk decisions on a real database (SQLite and PostgreSQL), with the instance's real
invitation seal: create, amend, cancel, recurring passes, entries, rotating codes, CCCD cards, check-out,
reports, retention and key retirement."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, replace

import pytest

from core.clock import VIETNAM, FrozenClock
from core.errors import Kind, ServiceError
from invitations import checkin, reports, retention, rotating, service, token, venues
from invitations.reasons import Reason
from invitations.service import Amendment, Host, InvitationContext, InvitationInput
from store import invitations_repo as repo
from tests.conftest import Instance, make_account
from tests.support.clock import TUESDAY, upcoming
from tests.support.invitations import instance_context, make_seal

T0 = upcoming(8, 0, weekday=TUESDAY)  # Tuesday 08:00 in Hồ Chí Minh City, after the hierarchy was issued
MEETING = (T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))  # 09:00 – 10:00
_codes = itertools.count(1)


@dataclass
class World:
    instance: Instance
    clock: FrozenClock
    context: InvitationContext
    host: Host
    venue: str
    desk: str
    other_desk: str  # a desk of another venue


@pytest.fixture
def world(shared_instance: Instance) -> World:
    clock = FrozenClock(T0)
    context = instance_context(shared_instance, clock)
    number = next(_codes)
    account = make_account(shared_instance, "official")
    with shared_instance.db.transaction() as session:
        venues.add(
            session, clock, f"UBND-{number}", "UBND Phường Bến Thành", desks=[f"g{number}a", f"g{number}b"]
        )
        venues.add(session, clock, f"SO-{number}", "Sở Thông tin", desks=[f"s{number}"])
        host = service.host_of(session, account.username)
    return World(shared_instance, clock, context, host, f"UBND-{number}", f"g{number}a", f"s{number}")


def invite(world: World, **changes: object) -> service.InvitationView:
    data = InvitationInput(
        guest_name="Nguyễn Thị Minh Khai",
        venue=world.venue,
        starts_at=MEETING[0],
        ends_at=MEETING[1],
        meeting_title="Họp về hồ sơ đất đai",
        cccd="079203001234",
    )
    with world.instance.db.transaction() as session:
        return service.create(session, world.context, world.host, replace(data, **changes))  # type: ignore[arg-type]


def scan(world: World, payload: str, desk: str | None = None, **options: object) -> checkin.Decision:
    with world.instance.db.transaction() as session:
        found = checkin.desk_for(session, desk or world.desk, None)
        return checkin.check_in(session, world.context, payload, found, "gate-test", **options)  # type: ignore[arg-type]


def test_an_invitation_admits_once_then_says_already_used(world: World) -> None:
    created = invite(world)
    assert created.cccd_masked == "079******234"
    assert created.payload and created.payload.startswith("KY1:")
    world.clock.set(MEETING[0] - dt.timedelta(minutes=10))
    first = scan(world, created.payload)
    assert first.admitted, first.detail
    assert (first.guest_name, first.host_name) == ("Nguyễn Thị Minh Khai", world.host.display_name)
    assert first.meeting_title == "Họp về hồ sơ đất đai"
    assert first.entries_left == 0
    again = scan(world, created.payload, desk=world.desk.replace("a", "b"))
    assert not again.admitted and again.reason is Reason.USED
    assert world.desk in again.detail
    assert again.as_json()["reason"] == "Đã sử dụng"


def test_the_time_window_opens_an_hour_early_and_closes_at_the_end(world: World) -> None:
    created = invite(world)
    world.clock.set(MEETING[0] - dt.timedelta(minutes=61))
    assert scan(world, created.payload).reason is Reason.NOT_YET_VALID  # type: ignore[arg-type]
    world.clock.set(MEETING[1] + dt.timedelta(seconds=1))
    late = scan(world, created.payload)  # type: ignore[arg-type]
    assert late.reason is Reason.EXPIRED
    assert late.as_json()["reason"] == "Đã hết hạn"
    assert late.guest_name == "Nguyễn Thị Minh Khai"  # the signature held: the guard may say who it was
    world.clock.set(MEETING[0] - dt.timedelta(minutes=59))
    assert scan(world, created.payload).admitted  # type: ignore[arg-type]


def test_a_pass_for_another_venue_is_turned_away(world: World) -> None:
    created = invite(world)
    world.clock.set(MEETING[0])
    decision = scan(world, created.payload, desk=world.other_desk)  # type: ignore[arg-type]
    assert decision.reason is Reason.WRONG_VENUE
    assert decision.as_json()["reason"] == "Sai địa điểm"
    assert scan(world, created.payload).admitted  # the wrong desk did not use the entry  # type: ignore[arg-type]


def test_cancel_and_amend(world: World) -> None:
    cancelled = invite(world)
    kept = invite(world, guest_name="Trần Văn Bảo")
    world.clock.set(MEETING[0])
    with world.instance.db.transaction() as session:
        service.cancel(session, world.context, cancelled.id)
        amended = service.amend(
            session, world.context, kept.id, Amendment(meeting_title="Họp lại", cccd="", entries=2)
        )
    assert scan(world, cancelled.payload).reason is Reason.CANCELLED  # type: ignore[arg-type]
    old = scan(world, kept.payload)  # type: ignore[arg-type]
    assert old.reason is Reason.SUPERSEDED
    assert "version 1" in old.detail
    assert amended.token_version == 2 and amended.cccd_masked is None and amended.meeting_title == "Họp lại"
    assert scan(world, amended.payload).admitted  # type: ignore[arg-type]
    assert scan(world, amended.payload).admitted  # two entries now  # type: ignore[arg-type]
    assert scan(world, amended.payload).reason is Reason.USED  # type: ignore[arg-type]
    with world.instance.db.transaction() as session, pytest.raises(ServiceError) as caught:
        service.amend(session, world.context, cancelled.id, Amendment(guest_name="X"))
    assert caught.value.kind is Kind.CONFLICT


def test_another_hosts_invitation_is_not_found_for_an_owner(world: World) -> None:
    created = invite(world)
    with world.instance.db.transaction() as session, pytest.raises(ServiceError) as caught:
        service.cancel(session, world.context, created.id, owner=world.host.account_id + 10_000)
    assert caught.value.kind is Kind.NOT_FOUND


def test_a_recurring_pass_admits_once_each_day(world: World) -> None:
    created = invite(world, days=3)
    tuesday = T0.date()  # the meeting's day in Vietnam: Tuesday, Wednesday, Thursday
    expected = [(tuesday + dt.timedelta(days=d)).isoformat() for d in range(3)]
    assert [o.day.isoformat() for o in created.occurrences] == expected
    assert [o.day.weekday() for o in created.occurrences] == [TUESDAY, TUESDAY + 1, TUESDAY + 2]
    for day in range(3):
        world.clock.set(MEETING[0] + dt.timedelta(days=day))
        decision = scan(world, created.payload)  # type: ignore[arg-type]
        assert decision.admitted and decision.occurrence == day, decision.detail
        assert scan(world, created.payload).reason is Reason.USED  # type: ignore[arg-type]
    world.clock.set(MEETING[1] + dt.timedelta(days=1, hours=3))  # the evening of day 2: no session
    assert scan(world, created.payload).reason is Reason.NOT_YET_VALID  # type: ignore[arg-type]


def test_a_rotating_pass_needs_the_live_code(world: World) -> None:
    created = invite(world, rotating=True)
    world.clock.set(MEETING[0])
    assert scan(world, created.payload).reason is Reason.ROTATING_CODE_MISSING  # type: ignore[arg-type]
    with world.instance.db.reading() as session:
        live = service.pass_text(world.context, session, created.id)
    assert live.startswith("KR1:")
    world.clock.advance(seconds=75)  # a screenshot forwarded a minute later
    assert scan(world, live).reason is Reason.ROTATING_CODE_INVALID
    with world.instance.db.reading() as session:
        live = service.pass_text(world.context, session, created.id)
    world.clock.advance(seconds=20)
    decision = scan(world, live)
    assert decision.admitted and "rotating code checked" in decision.notes
    assert rotating.STEP_SECONDS == 30


def test_the_cccd_card_must_be_the_invitees(world: World) -> None:
    created = invite(world, entries=2)
    world.clock.set(MEETING[0])
    other = "079203009999|||Lê Văn Cường|01012003|Nam|Quận 1|01012021"
    mine = "079203001234|025123456|Nguyễn Thị Minh Khai|01012003|Nữ|Quận 1|15082021"
    assert scan(world, created.payload, card_qr=other).reason is Reason.CCCD_MISMATCH  # type: ignore[arg-type]
    decision = scan(world, created.payload, card_qr=mine)  # type: ignore[arg-type]
    assert decision.admitted and "CCCD card matches" in decision.notes
    with pytest.raises(ServiceError):
        scan(world, created.payload, card_qr="https://example.com")  # type: ignore[arg-type]


def test_check_out_by_scan_and_automatic_at_the_end_of_the_day(world: World) -> None:
    leaving = invite(world)
    staying = invite(world, guest_name="Phạm Văn Đồng")
    world.clock.set(MEETING[0])
    assert scan(world, leaving.payload).admitted  # type: ignore[arg-type]
    stays = scan(world, staying.payload)  # type: ignore[arg-type]
    world.clock.set(MEETING[1] + dt.timedelta(minutes=5))  # expired now, but check-out still reads it
    with world.instance.db.transaction() as session:
        desk = checkin.desk_for(session, world.desk, None)
        out = checkin.check_out(session, world.context, desk, scanned=leaving.payload)
    assert out.guest_name == "Nguyễn Thị Minh Khai" and out.checked_out_at == world.clock.now()
    world.clock.set(T0 + dt.timedelta(days=1, hours=1))  # 09:00 next morning
    with world.instance.db.transaction() as session:
        assert checkin.auto_checkout(session, world.context) >= 1
        row = repo.checkin(session, stays.checkin_id)  # type: ignore[arg-type]
        assert row is not None and row.checkout_by == "auto"
        assert row.checked_out_at.astimezone(VIETNAM).strftime("%H:%M:%S") == "23:59:59"


def test_day_report_counts_and_csv(world: World) -> None:
    came = invite(world)
    invite(world, guest_name='=HYPERLINK("http://evil")')
    gone = invite(world, guest_name="Hủy Bỏ")
    with world.instance.db.transaction() as session:
        service.cancel(session, world.context, gone.id)
    world.clock.set(MEETING[0])
    assert scan(world, came.payload).admitted  # type: ignore[arg-type]
    with world.instance.db.reading() as session:
        before = reports.day_report(session, world.venue, T0.date(), world.clock.now())
        after = reports.day_report(session, world.venue, T0.date(), MEETING[1] + dt.timedelta(minutes=1))
    assert before.counts()["inside"] == 1 and before.counts()["expected"] == 1
    assert before.counts()["cancelled"] == 1
    assert after.counts()["no-show"] == 1
    text = after.csv()
    assert text.startswith("\ufeffinvitation_id,guest,host")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_guest_data_is_anonymised_after_the_retention_period(world: World) -> None:
    created = invite(world, guest_email="khai@example.vn", companions=("Con gái",))
    with world.instance.db.transaction() as session:
        done = retention.anonymise(session, MEETING[1] + dt.timedelta(days=31), after_days=30)
    assert created.id in done
    with world.instance.db.reading() as session:
        shown = service.view(session, world.context, created.id)
    assert shown.guest_name == retention.ANONYMOUS
    assert shown.guest_email is None and shown.cccd_masked is None
    assert shown.companions == [retention.ANONYMOUS]


def test_a_retired_key_is_an_unknown_key(world: World) -> None:
    extra = make_seal(name="seal about to be retired")
    old_context = instance_context(world.instance, world.clock, seal=extra)
    created = invite(replace(world, context=old_context))
    world.clock.set(MEETING[0])
    world.context.forget_keys()
    with world.instance.db.transaction() as session:
        service.retire_key(session, world.context, extra.kid.hex())
        with pytest.raises(ServiceError) as caught:
            service.retire_key(session, world.context, world.context.seal.kid.hex())  # type: ignore[union-attr]
    assert caught.value.kind is Kind.CONFLICT
    decision = scan(world, created.payload)  # type: ignore[arg-type]
    assert decision.reason is Reason.UNKNOWN_KEY
    assert decision.as_json()["reason"] == "Khoá không xác định"


def test_bad_input_is_refused_with_a_reason(world: World) -> None:
    for changes, fragment in [
        ({"ends_at": MEETING[0]}, "end must come after"),
        ({"starts_at": MEETING[0].replace(tzinfo=None)}, "time zone"),
        ({"cccd": "12345"}, "12 digits"),
        ({"guest_name": ""}, "guest name"),
        ({"guest_name": "a\x00b"}, "control characters"),
        ({"venue": "NOWHERE"}, "no venue"),
        ({"entries": 0}, "entries"),
        ({"days": 40}, "1 to 31"),
        ({"notify_webhook": "file:///etc/passwd"}, "http(s) URL"),
        (
            {"starts_at": T0 - dt.timedelta(days=3), "ends_at": T0 - dt.timedelta(days=3, hours=-1)},
            "already be over",
        ),
    ]:
        with pytest.raises(ServiceError) as caught:
            invite(world, **changes)
        assert caught.value.kind in (Kind.MALFORMED, Kind.NOT_FOUND)
        assert fragment in caught.value.message, (changes, caught.value.message)


def test_html_in_a_guest_name_is_kept_as_text_and_the_token_carries_it_verbatim(world: World) -> None:
    created = invite(world, guest_name="<script>alert(1)</script>")
    with world.instance.db.reading() as session:
        keys = world.context.keys(session)
    verdict = token.verify(created.payload, keys, MEETING[0])  # type: ignore[arg-type]
    assert verdict.claims is not None and verdict.claims.guest_name == "<script>alert(1)</script>"
