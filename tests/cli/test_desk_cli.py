"""`kyso invite` for issue 21: the honorific and host contact on create, and the desk's answer printing the
host's contact and the next step (invitations.reasons.NEXT_ACTION, the mapping the desk page uses)."""

from __future__ import annotations

import datetime as dt
import json

from tests.cli.test_invite_cli import inst  # noqa: F401  (the module's instance: a venue and a host)
from tests.conftest import Instance, kyso


def test_create_with_honorific_and_contact_then_check_prints_the_next_step(inst: Instance) -> None:  # noqa: F811
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    made = kyso(inst, "invite", "create", "--host", "lan.pham", "--guest-name", "Trần Thị Bé", "--venue",
                "UBND-BT", "--start", start.isoformat(), "--end", (start + dt.timedelta(hours=2)).isoformat(),
                "--honorific", "Bà", "--host-contact", "0283 829 1234", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert (created["guest_title"], created["host_contact"]) == ("Bà", "0283 829 1234")
    first = kyso(inst, "invite", "check", created["payload"], "--desk", "gate-1")
    assert first.returncode == 0 and "contact  0283 829 1234" in first.stdout
    again = kyso(inst, "invite", "check", created["payload"], "--desk", "gate-2")
    assert again.returncode == 1
    assert (
        "next     Có thể người khác giữ bản sao: gọi người mời — someone else may hold a copy" in again.stdout
    )
    bad = kyso(inst, "invite", "create", "--host", "lan.pham", "--guest-name", "X", "--venue", "UBND-BT",
               "--start", start.isoformat(), "--end", (start + dt.timedelta(hours=1)).isoformat(),
               "--honorific", "\x07")  # fmt: skip
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
