"""`kyso --help` and `kyso verify --help` import no domain library: the command modules import pyHanko,
pkilint, SQLAlchemy and the rest inside the commands (bench/cli_startup.py measures the time it saves).

Checked by the modules a fresh interpreter holds after the help, never by the clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli import invite_cmd

ROOT = Path(__file__).resolve().parents[2]

# Top-level packages no help may import (pydantic: Typer would import it for an absent flag of a group,
# which cli.common.Group avoids).
FORBIDDEN = (
    "pydantic",
    "pyhanko",
    "pyhanko_certvalidator",
    "pkilint",
    "sqlalchemy",
    "alembic",
    "cryptography",
    "asn1crypto",
    "pydantic_settings",
    "uvicorn",
    "fastapi",
    "qrcode",
    "ca",
    "signing",
    "verification",
    "invitations",
    "store",
    "keystore",
    "api",
    "identity",
    "services",
)
# Domain modules with no library behind them, which help texts name: the role names of `kyso user add
# --help` and the revocation reasons of `kyso ca revoke --help`.
ALLOWED_DOMAIN = {"identity", "identity.permissions", "ca", "ca.revocation_reasons"}

PROBE = """
import json, sys
from cli.main import app
try:
    app(sys.argv[1:], prog_name="kyso")
except SystemExit as exit:
    code = exit.code
print("\\n@@MODULES@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_after(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "@@MODULES@@" in result.stdout, result.stderr
    report = json.loads(result.stdout.rsplit("@@MODULES@@", 1)[1])
    assert report["code"] in (0, None), result.stdout
    return report["modules"]


@pytest.mark.parametrize(
    "args",
    [("--help",), ("verify", "--help"), ("sign", "--help"), ("ca", "revoke", "--help"), ("invite", "--help")],
)
def test_help_imports_no_domain_library(args: tuple[str, ...]) -> None:
    loaded = modules_after(*args)
    heavy = sorted(name for name in loaded if name.split(".")[0] in FORBIDDEN and name not in ALLOWED_DOMAIN)
    assert not heavy, f"`kyso {' '.join(args)}` imported {heavy[:20]}"


def test_constants_copied_for_help_match_the_domain() -> None:
    from invitations import service

    assert (invite_cmd.MAX_DAYS, invite_cmd.MAX_ENTRIES) == (service.MAX_DAYS, service.MAX_ENTRIES)
