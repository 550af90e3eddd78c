"""signing.credentials.bind, the one use case behind `POST /api/v1/signing/credentials` and
`kyso user bind-cert`: two binds of one certificate racing in two transactions bind it once."""

from __future__ import annotations

import threading

from core.errors import Kind, ServiceError
from identity import accounts
from signing import credentials
from store.models import SigningCredential
from tests.conftest import Instance
from tests.support.clock import join_for
from tests.support.signing import holder


def test_two_racing_binds_of_one_seal_bind_it_once(instance: Instance) -> None:
    organization = "UBND Phường Nguyễn Cư Trinh"
    first, seal = holder(instance, "clerk", organization=organization)
    second, _ = holder(instance, "clerk", organization=organization)
    outcome: list[object] = []

    def bind_second() -> None:
        try:
            with instance.db.transaction() as session:
                account = accounts.get(session, second.username)
                outcome.append(
                    credentials.bind(session, account=account, serial=seal, now=instance.ca.clock.now())
                )
        except ServiceError as exc:
            outcome.append(exc)

    racer = threading.Thread(target=bind_second)
    with instance.db.transaction() as session:
        account = accounts.get(session, first.username)
        credentials.bind(session, account=account, serial=seal, now=instance.ca.clock.now())
        racer.start()
        join_for(racer, 1.0)
        assert racer.is_alive(), "the second bind did not wait for the first transaction"
    racer.join(timeout=30)
    [result] = outcome
    assert isinstance(result, ServiceError) and result.kind == Kind.CONFLICT, result
    assert f"already bound to account {first.username}" in result.message
    with instance.db.reading() as session:
        assert session.query(SigningCredential).filter_by(certificate_serial=seal).count() == 1
