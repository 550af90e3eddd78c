"""CLI start-up: `kyso --help` and `kyso verify --help` beside a bare `python -c "import typer, rich"`.

Each command is a fresh process of the virtual environment's interpreter, run ``--runs`` times; the best
(shortest) wall time of each is kept, as the least disturbed by other work on the machine. The figure
that matters is the ratio to the bare import: help must cost at most ``--max-ratio`` times it, which it
only does while the command modules import their domain modules (pyHanko, pkilint, SQLAlchemy, …) inside
the commands. "typer floor" is a two-command Typer app importing nothing else: what any Typer CLI pays
for the same help. tests/cli/test_startup.py checks the same by the modules imported, never by the clock.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
KYSO = str(Path(sys.executable).with_name("kyso"))

# The least any Typer app pays for the same help: two commands, nothing imported. Typer 0.29 coerces the
# group's own (absent) --help flag through a pydantic TypeAdapter before it reaches a subcommand, so every
# `APP SUB --help` imports pydantic (typer._adapters) — about 100 ms no command module can avoid.
FLOOR_APP = """
import sys
from pathlib import Path
import typer
app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})
@app.command()
def verify(source: Path, json_output: bool = False) -> None:
    "Check a file."
@app.command()
def other() -> None:
    "Something else."
app(sys.argv[1:], prog_name="floor")
"""

COMMANDS = {
    "import typer, rich": [PYTHON, "-c", "import typer, rich"],
    "typer floor --help": [PYTHON, "-c", FLOOR_APP, "--help"],
    "typer floor verify -h": [PYTHON, "-c", FLOOR_APP, "verify", "--help"],
    "kyso --help": [KYSO, "--help"],
    "kyso verify --help": [KYSO, "verify", "--help"],
}
CHECKED = ("kyso --help", "kyso verify --help")


def best_of(command: list[str], runs: int) -> tuple[float, float]:
    """(wall, CPU) seconds, the best of ``runs``; the CPU time (user + system of the child) is what a busy
    machine disturbs least, so the check uses it."""
    subprocess.run(
        command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )  # warm
    best_wall = best_cpu = float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best_wall = min(best_wall, time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench cli_startup", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command; the best is kept")
    parser.add_argument("--max-ratio", type=float, default=4.0, help="exit 1 when help costs more than this")
    args = parser.parse_args(argv)
    times = {name: best_of(command, args.runs) for name, command in COMMANDS.items()}
    wall0, cpu0 = times["import typer, rich"]
    print(f"best of {args.runs} runs each, a fresh process each; ratios to the bare import")
    print(f"  {'':<22} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}")
    for name, (wall, cpu) in times.items():
        print(
            f"  {name:<22} {wall * 1000:5.0f} ms {wall / wall0:5.1f}× {cpu * 1000:5.0f} ms {cpu / cpu0:5.1f}×"
        )
    over = [name for name in CHECKED if times[name][1] / cpu0 > args.max_ratio]
    for name in over:
        print(f"{name} takes more than {args.max_ratio}× the CPU time of the bare import", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
