"""``python -m bench`` runs every benchmark with its defaults; ``python -m bench NAME [OPTIONS]`` runs one.

``python -m bench NAME --help`` shows that benchmark's options.
"""

from __future__ import annotations

import importlib
import sys

# Every benchmark module of this package, in the order `make bench` runs them. Each has main(argv) -> int.
BENCHMARKS = ["cli_startup", "bulk_issue", "status_services", "signing", "verification", "checkins", "mixed"]

USAGE = f"""usage: python -m bench [NAME [OPTIONS...]]

  (no arguments)       run every benchmark with its defaults: {", ".join(BENCHMARKS)}
  NAME [OPTIONS...]    run one benchmark; `python -m bench NAME --help` lists its options
  --list               print the benchmark names
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        status = 0
        for name in BENCHMARKS:
            print(f"== bench.{name} ==", file=sys.stderr, flush=True)
            status = max(status, _run(name, []))
        return status
    if args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if args[0] == "--list":
        print("\n".join(BENCHMARKS))
        return 0
    name = args[0].replace("-", "_")
    if name not in BENCHMARKS:
        print(f"unknown benchmark {args[0]!r}; choose one of {', '.join(BENCHMARKS)}\n", file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    return _run(name, args[1:])


def _run(name: str, argv: list[str]) -> int:
    module = importlib.import_module(f"bench.{name}")
    return int(module.main(argv) or 0)


if __name__ == "__main__":
    sys.exit(main())
