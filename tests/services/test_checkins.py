"""services.checkins called directly, as the route, the CLI and the fast path call it: each decision and
desk action writes its audit entry in its own transaction, the desk-venue rule is applied here once, and
a refusal writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.errors import Kind, ServiceError
from identity import accounts
from invitations import offline, venues
from invitations.reasons import Reason
from services import checkins
from services.audit import Actor
from services.root import Kyso
from tests.conftest import Instance, make_account
from tests.services.entries import entries_after, head
from tests.support import cluster

OPERATOR = Actor("cli:operator", "cli")


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    cluster.add_venue(shared_instance)
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


@pytest.fixture(scope="module")
def passes(kyso: Kyso, shared_instance: Instance) -> list[str]:
    return cluster.make_passes(shared_instance, 6, host=make_account(shared_instance, "official"))


def desk_actor(instance: Instance, venue: str | None) -> Actor:
    extra = {"venue": venue} if venue else {}
    account = make_account(instance, "desk", **extra)
    with instance.db.reading() as session:
        account_id = accounts.get(session, account.username).id
    return Actor(account.username, "198.51.100.20", account_id, "desk")


def test_a_pass_is_admitted_once_and_every_decision_is_audited_as_decision_entry_says(
    kyso: Kyso, shared_instance: Instance, passes: list[str]
) -> None:
    desk = desk_actor(shared_instance, cluster.VENUE)
    before = head(kyso)
    first = checkins.check_in(kyso, desk, "gate-1", passes[0])
    again = checkins.check_in(kyso, desk, "gate-2", passes[0])
    assert first.admitted and not again.admitted
    expected = [checkins.decision_entry(desk, first), checkins.decision_entry(desk, again)]
    assert entries_after(kyso, before) == [
        (e.actor, e.action, e.target, e.source, e.outcome, dict(e.details or {})) for e in expected
    ]
    assert [e.outcome for e in expected] == ["admit", "deny"]
    assert expected[0].details and expected[0].details["desk"] == "gate-1"


def test_no_qr_in_the_image_is_a_deny_with_its_entry(kyso: Kyso) -> None:
    before = head(kyso)
    decision = checkins.check_in(kyso, OPERATOR, "gate-3", None)
    assert not decision.admitted and decision.reason is Reason.NO_QR
    assert [(e[0], e[1], e[4]) for e in entries_after(kyso, before)] == [
        ("cli:operator", "checkin.decide", "deny")
    ]


def test_a_desk_account_works_at_its_venue_only_and_a_refusal_writes_nothing(
    kyso: Kyso, shared_instance: Instance, passes: list[str]
) -> None:
    with shared_instance.db.transaction() as session:
        venues.add(session, shared_instance.ca.clock, "UBND-Q3", "UBND Quận 3", desks=["q3-gate"])
    elsewhere = desk_actor(shared_instance, "UBND-Q3")
    before = head(kyso)
    for refused in (
        lambda: checkins.check_in(kyso, elsewhere, "gate-1", passes[1]),
        lambda: checkins.bundle(kyso, elsewhere, cluster.VENUE, 2),
        lambda: checkins.sync(kyso, elsewhere, "gate-1", []),
    ):
        with pytest.raises(ServiceError) as error:
            refused()
        assert error.value.kind in (Kind.FORBIDDEN, Kind.NOT_FOUND)
    assert entries_after(kyso, before) == []
    # the operator may use any desk: a pass for another venue is then a deny, not a refusal
    wrong = checkins.check_in(kyso, OPERATOR, "q3-gate", passes[1])
    assert not wrong.admitted and wrong.reason is Reason.WRONG_VENUE
    assert len(checkins.bundle(kyso, desk_actor(shared_instance, cluster.VENUE), cluster.VENUE, 2)) > 0


def test_check_out_by_id_and_the_bundle_write_their_entries(
    kyso: Kyso, shared_instance: Instance, passes: list[str]
) -> None:
    admitted = checkins.check_in(kyso, OPERATOR, "gate-4", passes[2])
    assert admitted.admitted and admitted.checkin_id is not None
    before = head(kyso)
    done = checkins.check_out(kyso, OPERATOR, "gate-4", checkin_id=admitted.checkin_id)
    assert done.checkin_id == admitted.checkin_id
    data = checkins.bundle(kyso, OPERATOR, cluster.VENUE, 3)
    assert offline.MAX_BUNDLE_BYTES > len(data) > 0
    assert entries_after(kyso, before) == [
        ("cli:operator", "checkin.checkout", admitted.invitation_id, "cli", "success",
         {"desk": "gate-4", "checkin": admitted.checkin_id}),
        ("cli:operator", "checkin.bundle", cluster.VENUE, "cli", "success", {"hours": 3}),
    ]  # fmt: skip
    with pytest.raises(ServiceError) as unknown:
        checkins.bundle(kyso, OPERATOR, "NO-SUCH-VENUE", 3)
    assert unknown.value.kind is Kind.NOT_FOUND
    assert len(entries_after(kyso, before)) == 2
