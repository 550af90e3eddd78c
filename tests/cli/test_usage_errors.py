"""A mistyped command line is refused the way every other CLI refusal is: one line on stderr naming the
command and what is wrong, a pointer to its help, exit 2 — not Typer's usage block and boxed panel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the installed entry point would name itself kyso; a bare `python -c` would be named "-c"
KYSO = [sys.executable, "-c", "import sys; sys.argv[0] = 'kyso'; from cli.main import main; main()"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    return subprocess.run([*KYSO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["nosuch"], "kyso: No such command 'nosuch'. (see 'kyso -h')"),
        (["ca", "revoke"], "kyso ca revoke: Missing argument 'serial'. (see 'kyso ca revoke -h')"),
        (["ca", "issue", "--bogus"], "kyso ca issue: No such option: --bogus"),
        (["serve", "--port", "eighty"], "kyso serve: Invalid value for '--port'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(says), lines[0]
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


def test_help_and_the_bare_command_still_show_the_help(tmp_path: Path) -> None:
    asked = run("--help", cwd=tmp_path)
    assert asked.returncode == 0 and "Usage: kyso" in asked.stdout
    bare = run(cwd=tmp_path)
    assert bare.returncode == 2 and "Usage: kyso" in bare.stdout + bare.stderr
