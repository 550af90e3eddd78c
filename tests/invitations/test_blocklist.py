"""The block list (invitations.blocklist) on SQLite and PostgreSQL: exact matching without case and
diacritics on the name, the CCCD by its keyed hash; a hit holds the invitation at every desk until an
approver decides; two approvers at once make one decision; after "admitted" two desks scanning at once
admit once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from core.errors import Kind, ServiceError
from invitations import blocklist, checkin
from invitations.reasons import Reason
from tests.invitations import test_service
from tests.invitations.test_service import MEETING, World, invite, scan

world = test_service.world
KEY = b"k" * 32


def _block(world: World, *, name: str | None = None, cccd: str | None = None) -> tuple[int, list[str]]:
    with world.instance.db.transaction() as session:
        entry, held = blocklist.add_entry(session, KEY, name=name, cccd=cccd, reason="Quyết định 12/QĐ",
                                          by="admin", now=world.clock.now())  # fmt: skip
    return entry.id, held


def _check(world: World, invitation_id: str, cccd: str | None = None) -> blocklist.HoldView | None:
    with world.instance.db.transaction() as session:
        return blocklist.check_invitation(session, KEY, invitation_id, cccd, world.clock.now())


def test_names_match_exactly_without_case_spaces_or_diacritics() -> None:
    assert blocklist.name_key("NGUYỄN  văn   Đức") == blocklist.name_key("nguyen van duc") == "nguyen van duc"
    assert blocklist.name_key("Nguyễn Văn Đức Anh") != blocklist.name_key("Nguyễn Văn Đức")


def test_an_entry_holds_matching_invitations_and_new_ones(world: World) -> None:
    tag = world.venue.lower()
    by_name = invite(world, guest_name=f"Trần  VĂN Chặn {tag}", cccd=None)
    by_cccd = invite(world, guest_name="Tên Khác", cccd="079203007777")
    other = invite(world, guest_name=f"Trần Văn Chặn Hai {tag}", cccd=None)
    _, held = _block(world, name=f"tran van chan {tag}")
    assert by_name.id in held and other.id not in held
    _, held = _block(world, cccd="079203007777")
    assert by_cccd.id in held
    later = invite(world, guest_name="Ai Đó", cccd=None)
    assert _check(world, later.id) is None
    again = invite(world, guest_name=f"Tran Van Chan {tag}", cccd=None)
    hold = _check(world, again.id)
    assert hold is not None and (hold.matched_on, hold.status) == ("name", "pending")
    newcomer = invite(world, guest_name="Người Mới", cccd="079203007777")
    assert _check(world, newcomer.id, "079203007777").matched_on == "cccd"  # type: ignore[union-attr]

    world.clock.set(MEETING[0])
    for desk in (world.desk, world.desk[:-1] + "b"):  # every desk
        decision = scan(world, by_name.payload, desk=desk)  # type: ignore[arg-type]
        assert decision.reason is Reason.HELD and decision.as_json()["next_action_en"].startswith(
            "keep the guest"
        )
    assert scan(world, other.payload).admitted  # type: ignore[arg-type]


def test_two_approvers_at_once_make_one_decision_then_one_admission(world: World) -> None:
    name = f"Lê Thị Giữ {world.venue}"
    held = invite(world, guest_name=name, cccd=None, entries=1)
    _block(world, name=name)
    world.clock.set(MEETING[0])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(decision: str) -> None:
        barrier.wait()
        try:
            with world.instance.db.transaction() as session:
                blocklist.decide(session, held.id, decision, f"approver-{decision}", world.clock.now())
            outcomes.append(decision)
        except ServiceError as exc:
            assert exc.kind is Kind.CONFLICT and "already decided" in exc.message
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(d,)) for d in ("admitted", "refused")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) in (["admitted", "conflict"], ["conflict", "refused"]), outcomes
    winner = next(o for o in outcomes if o != "conflict")
    with world.instance.db.reading() as session:
        [hold] = [h for h in blocklist.holds(session, None) if h.invitation_id == held.id]
    assert (hold.status, hold.decided_by) == (winner, f"approver-{winner}")

    desks = [world.desk, world.desk[:-1] + "b"]
    answers: list[checkin.Decision] = []
    scans = threading.Barrier(2)

    def at(desk: str) -> None:
        scans.wait()
        answers.append(scan(world, held.payload, desk=desk))  # type: ignore[arg-type]

    threads = [threading.Thread(target=at, args=(d,)) for d in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reasons = sorted((a.reason.value if a.reason else "admit") for a in answers)
    if winner == "admitted":
        assert reasons == ["admit", "used"], reasons
        assert checkin.HOLD_ADMITTED in next(a for a in answers if a.admitted).notes
    else:
        assert reasons == ["hold_refused", "hold_refused"], reasons


def test_bad_entries_and_decisions_are_refused(world: World) -> None:
    with world.instance.db.transaction() as session, pytest.raises(ServiceError) as caught:
        blocklist.add_entry(session, KEY, name=None, cccd=None, reason="x", by="admin", now=world.clock.now())
    assert caught.value.kind is Kind.MALFORMED
    free = invite(world, guest_name="Không Bị Giữ", cccd=None)
    with world.instance.db.transaction() as session, pytest.raises(ServiceError) as caught:
        blocklist.decide(session, free.id, "admitted", "approver", world.clock.now())
    assert caught.value.kind is Kind.NOT_FOUND
    world.clock.set(MEETING[0] + dt.timedelta(minutes=1))
    assert scan(world, free.payload).admitted  # type: ignore[arg-type]
