"""`kyso venue` and `kyso invite` as an operator and a desk script use them: the scripting contract
(`--json` shapes, exit 0 on admit and 1 on deny), photos of passes, and the offline desk end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import Instance, kyso, make_instance


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    tmp = tmp_path_factory.mktemp("invite-cli")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    assert (
        kyso(
            instance,
            "venue",
            "add",
            "UBND-BT",
            "--name",
            "UBND Phường Bến Thành",
            "--address",
            "4 Lê Thánh Tôn",
            "--desk",
            "gate-1",
            "--desk",
            "gate-2",
        ).returncode
        == 0
    )
    added = kyso(
        instance,
        "user",
        "add",
        "lan.pham",
        "--role",
        "official",
        "--display-name",
        "Phạm Thị Lan",
        "--no-totp",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    return instance


def invite(inst: Instance, guest: str = "Nguyễn Văn An", *extra: str) -> dict[str, object]:
    # begun a minute ago: on today's report in Vietnam even at 23:58 (five minutes ahead would be tomorrow's)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    result = kyso(
        inst,
        "invite",
        "create",
        "--host",
        "lan.pham",
        "--guest-name",
        guest,
        "--venue",
        "UBND-BT",
        "--start",
        start.isoformat(),
        "--end",
        (start + dt.timedelta(hours=1)).isoformat(),
        "--title",
        "Họp tổ dân phố",
        "--json",
        *extra,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check(inst: Instance, *args: str, env: dict[str, str] | None = None):
    return kyso(inst, "invite", "check", *args, "--json", env=env)


def test_create_check_admit_then_deny_with_exit_codes(inst: Instance, tmp_path: Path) -> None:
    png = tmp_path / "pass.png"
    created = invite(inst, "Nguyễn Văn An", "--qr-png", str(png), "--cccd", "079203001234")
    assert {"id", "payload"} <= created.keys() and str(created["payload"]).startswith("KY1:")
    assert created["cccd_masked"] == "079******234"
    first = check(inst, str(created["payload"]), "--desk", "gate-1")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["decision"] == "admit"
    again = check(inst, str(created["payload"]), "--desk", "gate-2")
    assert again.returncode == 1
    denied = json.loads(again.stdout)
    assert (denied["decision"], denied["reason"], denied["reason_code"]) == ("deny", "Đã sử dụng", "used")
    human = kyso(inst, "invite", "check", str(created["payload"]), "--desk", "gate-1")
    assert human.returncode == 1 and "TỪ CHỐI" in human.stdout and "Đã sử dụng" in human.stdout
    import zxingcpp

    assert [b.text for b in zxingcpp.read_barcodes(Image.open(png))] == [created["payload"]]


def test_check_a_photo_and_a_photo_without_a_qr(inst: Instance, tmp_path: Path) -> None:
    png = tmp_path / "pass.png"
    invite(inst, "Trần Thị Bích", "--qr-png", str(png))
    photo = tmp_path / "photo.jpg"
    Image.open(png).convert("RGB").rotate(-6, expand=True, fillcolor="white").save(photo, quality=55)
    admitted = check(inst, "--image", str(photo), "--desk", "gate-2")
    assert admitted.returncode == 0, admitted.stdout + admitted.stderr
    assert json.loads(admitted.stdout)["guest"] == "Trần Thị Bích"
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 300), 255).save(blank)
    nothing = check(inst, "--image", str(blank), "--desk", "gate-2")
    assert (
        nothing.returncode == 1 and json.loads(nothing.stdout)["reason"] == "Không tìm thấy mã QR trong ảnh"
    )
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    result = check(inst, "--image", str(broken), "--desk", "gate-2")
    assert result.returncode == 2 and "not a readable image" in result.stderr
    assert check(inst, "--desk", "gate-1").returncode == 2  # neither text nor image


def test_cancel_list_report_and_bad_input(inst: Instance) -> None:
    created = invite(inst, "Lê Văn Hủy")
    assert kyso(inst, "invite", "cancel", str(created["id"])).returncode == 0
    cancelled = check(inst, str(created["payload"]), "--desk", "gate-1")
    assert cancelled.returncode == 1 and json.loads(cancelled.stdout)["reason"] == "Đã bị huỷ"
    listed = json.loads(kyso(inst, "invite", "list", "--venue", "UBND-BT", "--json").stdout)
    assert created["id"] in [i["id"] for i in listed["items"]]
    report = json.loads(kyso(inst, "invite", "report", "--venue", "UBND-BT", "--json").stdout)
    assert report["counts"]["cancelled"] >= 1
    statuses = {guest["invitation_id"]: guest["status"] for guest in report["guests"]}
    assert statuses.get(created["id"]) == "cancelled"  # today's report in Vietnam lists it
    bad = kyso(
        inst,
        "invite",
        "create",
        "--host",
        "lan.pham",
        "--guest-name",
        "X",
        "--venue",
        "UBND-BT",
        "--start",
        "tomorrow",
        "--end",
        "later",
    )
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    nowhere = kyso(inst, "invite", "check", str(created["payload"]), "--desk", "gate-9")
    assert nowhere.returncode == 3 and "no desk" in nowhere.stderr
    venues = json.loads(kyso(inst, "venue", "list", "--json").stdout)
    assert venues[0]["desks"] == [{"code": "gate-1", "name": "gate-1"}, {"code": "gate-2", "name": "gate-2"}]


def test_offline_desks_admit_without_the_database_then_sync_flags_the_conflict(
    inst: Instance, tmp_path: Path
) -> None:
    created = invite(inst, "Võ Văn Kiệt")
    bundle, root = tmp_path / "desk.cose", tmp_path / "root.pem"
    assert kyso(inst, "invite", "bundle", "--venue", "UBND-BT", "-o", str(bundle)).returncode == 0
    assert kyso(inst, "ca", "chain", "--ca", "root", "-o", str(root)).returncode == 0
    no_database = {
        "KYSO_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/unreachable",
        "KYSO_MASTER_KEY": "x" * 40,
    }
    journals = {desk: tmp_path / f"{desk}.jsonl" for desk in ("gate-1", "gate-2")}
    for desk, journal in journals.items():
        result = check(
            inst,
            str(created["payload"]),
            "--desk",
            desk,
            "--offline",
            "--bundle",
            str(bundle),
            "--trust",
            str(root),
            "--journal",
            str(journal),
            env=no_database,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["notes"][0].startswith("offline")
    repeat = check(
        inst,
        str(created["payload"]),
        "--desk",
        "gate-1",
        "--offline",
        "--bundle",
        str(bundle),
        "--trust",
        str(root),
        "--journal",
        str(journals["gate-1"]),
        env=no_database,
    )
    assert repeat.returncode == 1 and json.loads(repeat.stdout)["reason_code"] == "used"
    wrong_root = tmp_path / "other.pem"
    wrong_root.write_text(
        root.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    first = json.loads(
        kyso(inst, "invite", "sync", str(journals["gate-1"]), "--desk", "gate-1", "--json").stdout
    )
    second = json.loads(
        kyso(inst, "invite", "sync", str(journals["gate-2"]), "--desk", "gate-2", "--json").stdout
    )
    assert [o["outcome"] for o in first] == ["recorded", "denied"]
    assert [o["outcome"] for o in second] == ["conflict"]
    flagged = json.loads(kyso(inst, "invite", "conflicts", "--json").stdout)
    assert [c["invitation_id"] for c in flagged] == [created["id"]]
    tampered = tmp_path / "tampered.cose"
    tampered.write_bytes(bundle.read_bytes().replace(b"gate-2", b"gate-7"))  # same length: still CBOR
    refused = check(
        inst,
        str(created["payload"]),
        "--desk",
        "gate-1",
        "--offline",
        "--bundle",
        str(tampered),
        "--trust",
        str(root),
        env=no_database,
    )
    assert refused.returncode == 2 and "altered" in refused.stderr


def test_a_webhook_to_an_internal_address_is_refused_in_one_line_unless_the_operator_allows_it(
    inst: Instance,
) -> None:
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    args = ["invite", "create", "--host", "lan.pham", "--guest-name", "Lê Văn Tám", "--venue", "UBND-BT",
            "--start", start.isoformat(), "--end", (start + dt.timedelta(hours=1)).isoformat(), "--json",
            "--notify-webhook", "http://169.254.169.254/latest/meta-data/"]  # fmt: skip
    refused = kyso(inst, *args)
    assert refused.returncode != 0 and refused.stdout == ""
    assert "not a public address" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr
    allowed = kyso(inst, *args, env={"KYSO_WEBHOOK_ALLOW": "169.254.169.254"})
    assert allowed.returncode == 0, allowed.stderr
