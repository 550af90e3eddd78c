"""Decisions taken in groups (``checkin.decide_all``, as ``kyso serve``'s check-in decider takes them): each
scan of a group is decided as it would be alone, the same pass twice in one group is consumed one after
the other, and groups decided at once by several connections admit each pass exactly once and never
deadlock, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select

from identity import audit
from invitations import checkin
from invitations.checkin import DeskRef, Scan
from invitations.reasons import Reason
from store.models import CheckIn
from tests.conftest import Instance, make_account
from tests.support import cluster
from tests.support.invitations import instance_context, make_seal

THREADS = 6
PASSES = 8


def _decide(instance: Instance, context, payloads: list[str], desk: str = cluster.DESKS[0]) -> list:
    with instance.db.transaction() as session:
        now = context.clock.now()
        scans = [
            Scan(checkin.read_pass(session, context, text, now), DeskRef(desk, cluster.VENUE), f"desk:{desk}")
            for text in payloads
        ]
        return checkin.decide_all(session, context, scans, now)


def _checkins(instance: Instance) -> dict[str, int]:
    with instance.db.reading() as session:
        rows = session.execute(select(CheckIn.invitation_id, func.count()).group_by(CheckIn.invitation_id))
        return dict(rows.all())  # type: ignore[arg-type]


def test_each_scan_of_a_group_is_decided_as_it_would_be_alone(instance: Instance) -> None:
    cluster.add_venue(instance)
    official = make_account(instance, "official")
    first, second = cluster.make_passes(instance, 2, host=official)
    forged = first[:-6] + ("AAAAAA" if not first.endswith("AAAAAA") else "BBBBBB")
    context = instance_context(instance)

    decisions = _decide(instance, context, [first, second, first, forged, "not a pass"])

    assert [d.admitted for d in decisions] == [True, True, False, False, False]
    assert decisions[2].reason is Reason.USED and "desk" in decisions[2].detail
    assert decisions[3].reason in (Reason.FORGED, Reason.MALFORMED)
    assert decisions[4].reason is Reason.NOT_OURS
    assert decisions[0].invitation_id != decisions[1].invitation_id
    assert decisions[0].checkin_id != decisions[1].checkin_id
    assert decisions[0].entries_left == 0 and decisions[0].guest_name == "Khách số 0"
    assert sorted(_checkins(instance).values()) == [1, 1]


def test_a_pass_with_two_entries_scanned_three_times_in_one_group_admits_twice(instance: Instance) -> None:
    cluster.add_venue(instance)
    official = make_account(instance, "official")
    context = instance_context(instance)
    payload = _invite(instance, context, official, entries=2)
    other = cluster.make_passes(instance, 1, host=official)[0]

    decisions = _decide(instance, context, [payload, other, payload, payload])

    assert [d.admitted for d in decisions] == [True, True, True, False]
    assert [d.entries_left for d in decisions[::2]] == [1, 0]
    assert decisions[3].reason is Reason.USED
    assert _checkins(instance)[decisions[0].invitation_id] == 2


def _invite(instance: Instance, context, official, **extra) -> str:
    import datetime as dt

    from core.clock import VIETNAM
    from invitations import service
    from invitations.service import InvitationInput

    now = dt.datetime.now(VIETNAM)
    with instance.db.transaction() as session:
        created = service.create(session, context, service.host_of(session, official.username), InvitationInput(
            guest_name="Trần Văn Ơn", venue=cluster.VENUE, starts_at=now, ends_at=now + dt.timedelta(hours=1),
            **extra,
        ))  # fmt: skip
    assert created.payload is not None
    return created.payload


def test_a_seal_registered_by_another_process_is_trusted_without_waiting(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.add_venue(instance)
    official = make_account(instance, "official")
    desk_context = instance_context(instance)
    with instance.db.reading() as session:
        desk_context.keys(session)  # this process has loaded the trusted keys
    other_process = instance_context(instance, seal=make_seal(name="A new invitation seal"))
    first, second = _invite(instance, other_process, official), _invite(instance, other_process, official)

    monkeypatch.setattr(checkin, "RELOAD_KEYS_AFTER", 3600.0)  # keys loaded less than an hour ago
    (stale,) = _decide(instance, desk_context, [first])
    monkeypatch.setattr(checkin, "RELOAD_KEYS_AFTER", 0.0)
    (fresh,) = _decide(instance, desk_context, [second])

    assert stale.reason is Reason.UNKNOWN_KEY, "within the reload interval the key set is not reloaded"
    assert fresh.admitted, fresh.detail


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite serialises its writers
def test_groups_decided_at_once_admit_each_pass_once_without_deadlock(instance: Instance) -> None:
    cluster.add_venue(instance)
    official = make_account(instance, "official")
    payloads = cluster.make_passes(instance, PASSES, host=official)
    context = instance_context(instance)
    barrier = threading.Barrier(THREADS)
    results: list[list] = []
    errors: list[BaseException] = []

    def desk(n: int) -> None:
        group = payloads[:]
        random.Random(n).shuffle(group)  # each connection meets the passes in another order
        try:
            barrier.wait(timeout=60)
            results.append(_decide(instance, context, group, cluster.DESKS[n % len(cluster.DESKS)]))
        except BaseException as exc:  # a deadlock would be raised here
            errors.append(exc)

    threads = [threading.Thread(target=desk, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    admitted = [d.invitation_id for group in results for d in group if d.admitted]
    assert sorted(admitted) == sorted(set(admitted)) and len(admitted) == PASSES
    refused = {d.reason for group in results for d in group if not d.admitted}
    assert refused == {Reason.USED}
    assert set(_checkins(instance).values()) == {1}
    with instance.db.reading() as session:
        assert audit.verify(session).ok
