"""services.accounts called directly, as /api/v1/auth calls it: logout and the second factor's enrolment
each write their entry with the actor's address; a refused enrolment writes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyotp
import pytest

from core.errors import Kind, ServiceError
from identity import audit
from identity.sessions import authenticate, login
from services import accounts
from services.audit import Actor
from services.root import Kyso
from tests.conftest import Instance, make_account


@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


def entries(kyso: Kyso, name: str) -> list[tuple[str, str, str | None]]:
    """(action, outcome, source) of the entries ``name`` wrote, oldest first."""
    with kyso.db.reading() as session:
        return [(e.action, e.outcome, e.source) for e in audit.entries(session) if e.actor == name]


def test_enrolling_and_confirming_a_second_factor_is_audited_and_a_second_enrolment_refused(
    kyso: Kyso, shared_instance: Instance
) -> None:
    citizen = make_account(shared_instance, "citizen", cccd="079305001234")
    actor = Actor(citizen.username, "198.51.100.30", None, "citizen")
    enrolment = accounts.enrol_second_factor(kyso, actor)
    an_hour_ago = pyotp.TOTP(enrolment.secret).at(time.time() - 3600)
    assert accounts.confirm_second_factor(kyso, actor, an_hour_ago) is None
    codes = accounts.confirm_second_factor(kyso, actor, pyotp.TOTP(enrolment.secret).now())
    assert codes and len(codes) == 10
    with pytest.raises(ServiceError) as refused:
        accounts.enrol_second_factor(kyso, actor)
    assert refused.value.kind is Kind.CONFLICT
    mine = [e for e in entries(kyso, citizen.username) if e[0].startswith("totp.")]
    assert mine == [
        ("totp.enrol", "success", "198.51.100.30"),
        ("totp.confirm", "failure", "198.51.100.30"),
        ("totp.confirm", "success", "198.51.100.30"),
    ]


def test_logout_ends_the_token_and_says_so(kyso: Kyso, shared_instance: Instance) -> None:
    official = make_account(shared_instance, "official")
    with kyso.db.transaction() as session:
        outcome = login(
            session, kyso.clock, kyso.secret_box, username=official.username, password=official.password,
            code=official.code(), source="198.51.100.31",
        )  # fmt: skip
    assert outcome.token is not None
    with kyso.db.reading() as session:
        assert authenticate(session, kyso.clock, outcome.token, via="bearer").username == official.username
    accounts.logout(kyso, Actor(official.username, "198.51.100.31"), outcome.token)
    with kyso.db.reading() as session, pytest.raises(ServiceError) as ended:
        authenticate(session, kyso.clock, outcome.token, via="bearer")
    assert ended.value.kind is Kind.UNAUTHORIZED
    assert ("logout", "success", "198.51.100.31") in entries(kyso, official.username)
