"""`make lint`'s dependency audit (.ci/audit_dependencies.py) on saved pip-audit reports: a known
vulnerability fails lint; a run that could reach nothing says it audited nothing and does not fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit_dependencies.py"


def judge(tmp_path: Path, report: dict) -> subprocess.CompletedProcess[str]:
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report))
    return subprocess.run([sys.executable, SCRIPT, "--from-json", saved], capture_output=True, text=True)


def test_a_vulnerable_dependency_fails(tmp_path: Path) -> None:
    report = {"dependencies": [
        {"name": "fastapi", "version": "0.165.0", "vulns": []},
        {"name": "jinja2", "version": "2.10", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.5"]}]},
    ]}  # fmt: skip
    result = judge(tmp_path, report)
    assert result.returncode == 1
    assert "jinja2 2.10: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.5)" in result.stderr


def test_an_unreachable_service_is_said_plainly_and_does_not_fail(tmp_path: Path) -> None:
    skipped = "Dependency not found on PyPI and could not be audited: x (1.0)"
    report = {
        "dependencies": [{"name": n, "version": "1.0", "skip_reason": skipped} for n in ("a", "b", "c")]
    }
    result = judge(tmp_path, report)
    assert result.returncode == 0
    assert "NOT audited" in result.stdout and "3 packages skipped" in result.stdout


def test_a_clean_audit_passes(tmp_path: Path) -> None:
    report = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": []},
            {"name": "b", "version": "2", "vulns": []},
        ]
    }
    result = judge(tmp_path, report)
    assert result.returncode == 0 and "no known vulnerabilities in 2 packages" in result.stdout
