"""`kyso approvals …`: with a policy, `kyso ca revoke` of an official's certificate files a request (exit 4,
one line naming it) and revokes nothing; the same OS user cannot approve it (exit 5); another operator's
`kyso approvals approve` revokes it; `reject` ends a request; bad input is one line and a non-zero exit."""

from __future__ import annotations

import json
import re

from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from tests.conftest import Instance, kyso


def official(instance: Instance, cccd: str) -> str:
    subject = SubjectFields(surname="Hồ", given_name="Thị Lan", cccd=cccd, organization="UBND Phường Sài Gòn")
    with instance.db.transaction() as session:
        return instance.ca.issue(session, IssueRequest("official", subject)).certificate.serial


def as_user(name: str) -> dict[str, str]:
    return {"USER": name, "LOGNAME": name}


def test_a_cli_revocation_waits_for_a_second_operator(instance: Instance) -> None:
    assert kyso(instance, "approvals", "policy", "certificate.revoke", "1", "--hours", "8").returncode == 0
    shown = kyso(instance, "approvals", "policy")
    assert "certificate.revoke: 1 approval(s), requests expire after 8 h" in shown.stdout
    serial = official(instance, "079190000123")

    asked = kyso(
        instance, "ca", "revoke", serial, "--reason", "affiliation-changed", "--yes", env=as_user("an")
    )
    assert asked.returncode == 4, asked.stdout + asked.stderr
    assert len(asked.stderr.strip().splitlines()) == 1 and "needs 1 approval" in asked.stderr
    request_id = re.search(r"request (\d+) waits", asked.stderr).group(1)  # type: ignore[union-attr]
    listed = json.loads(kyso(instance, "approvals", "list", "--json").stdout)
    assert [(r["id"], r["target"], r["waiting_for"], r["requested_by"]) for r in listed] == [
        (int(request_id), serial, 1, "cli:an")
    ]
    status = json.loads(kyso(instance, "ca", "show", serial, "--json").stdout)["status"]
    assert status == "valid"

    own = kyso(instance, "approvals", "approve", request_id, env=as_user("an"))
    assert own.returncode == 5 and "requester cannot approve" in own.stderr
    done = kyso(instance, "approvals", "approve", request_id, "-m", "QĐ 45/2025", env=as_user("binh"))
    assert done.returncode == 0, done.stderr
    assert f"#{request_id} approved" in done.stdout and "approved by cli:binh" in done.stdout
    revoked = json.loads(kyso(instance, "ca", "show", serial, "--json").stdout)
    assert (revoked["status"], revoked["revocation_reason"]) == ("revoked", "affiliation-changed")
    assert "nothing waits for approval" in kyso(instance, "approvals", "list").stdout

    other = official(instance, "079190000124")
    kyso(instance, "ca", "revoke", other, "--reason", "superseded", "--yes", env=as_user("an"))
    [waiting] = json.loads(kyso(instance, "approvals", "list", "--json").stdout)
    rejected = kyso(instance, "approvals", "reject", str(waiting["id"]), "-m", "nhầm", env=as_user("binh"))
    assert rejected.returncode == 0 and "rejected by cli:binh" in rejected.stdout
    assert json.loads(kyso(instance, "ca", "show", other, "--json").stdout)["status"] == "valid"

    for args, code, words in (
        (("approvals", "approve", "999999"), 3, "no approval request 999999"),
        (("approvals", "approve", request_id), 4, "is approved"),
        (("approvals", "policy", "ca.everything", "2"), 2, "unknown action"),
        (("approvals", "approve", "abc"), 2, "valid integer"),
    ):
        result = kyso(instance, *args, env=as_user("chi"))
        assert result.returncode == code and words in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
