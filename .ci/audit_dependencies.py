#!/usr/bin/env python3
"""`make lint`'s dependency audit: pip-audit over the installed environment, read carefully.

pip-audit asks PyPI's vulnerability data for each installed distribution. Where PyPI cannot be reached
(an offline CI runner, a mirror-only network) it skips every package as "not found" and still says "No
known vulnerabilities found" with exit status 0 — an audit that audited nothing. This wrapper says so
plainly and does not fail lint for it; a real finding (a package with a known vulnerability) fails.

    .ci/audit_dependencies.py                 run pip-audit (.venv/bin/pip-audit) and judge its JSON
    .ci/audit_dependencies.py --from-json F   judge a saved `pip-audit -f json` report (for tests)

Exit status: 0 no finding (or nothing could be audited, said loudly), 1 a vulnerable dependency.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "pip-audit"
UNREACHABLE = (
    "the vulnerability service could not be reached from this machine: dependencies were NOT audited"
)


def judge(report: dict) -> tuple[int, str]:
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    if vulnerable:
        lines = [
            f"{d['name']} {d.get('version', '?')}: {v.get('id')} "
            f"(fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'})"
            for d in vulnerable
            for v in d["vulns"]
        ]
        return 1, "pip-audit: vulnerable dependencies:\n  " + "\n  ".join(lines)
    if dependencies and audited == 0:
        return 0, f"pip-audit: {UNREACHABLE} ({len(skipped)} packages skipped)"
    note = f"; {len(skipped)} skipped (not on PyPI)" if skipped else ""
    return 0, f"pip-audit: no known vulnerabilities in {audited} packages{note}"


def run_pip_audit() -> tuple[int, str]:
    command = [str(PIP_AUDIT), "--local", "--skip-editable", "-f", "json", "--progress-spinner", "off",
               "--timeout", "15"]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 0, f"pip-audit: {UNREACHABLE} ({exc})"
    try:
        report = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or "dependencies" not in report:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return 0, f"pip-audit: {UNREACHABLE} ({last})"
    return judge(report)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--from-json"] and len(argv) == 2:
        status, message = judge(json.loads(Path(argv[1]).read_text()))
    else:
        status, message = run_pip_audit()
    print(message, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
