"""`kyso worker`: the background jobs (mail and webhooks, end-of-day check-out, retention, CRLs, audit
sealing) in a process of their own — production runs one or more with KYSO_WORKER=external set for
`kyso serve`. The jobs and how runners share them: services/worker.py."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JsonOption, handles_errors, out, print_json, runtime


@handles_errors
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="run every job once and exit (cron, a systemd timer, a check)")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the background jobs until stopped (Ctrl-C, SIGTERM); logs go to stderr."""
    import logging.config
    import signal
    import threading

    from core.logs import logging_config, resolve_format
    from services.worker import Worker

    kyso = runtime()
    logging.config.dictConfig(logging_config(resolve_format(kyso.settings.log_format)))
    runner = Worker(kyso)
    if once:
        ran = runner.run_all()
        if as_json:
            print_json([{"job": r.job, "outcome": r.outcome, "summary": _plain(r.summary)} for r in ran])
        else:
            for r in ran:
                out.print(
                    f"{r.job:<13} {r.outcome}" + (f"  {_plain(r.summary)}" if r.summary is not None else "")
                )
        raise typer.Exit(1 if any(r.outcome == "failed" for r in ran) else 0)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    logging.getLogger("kyso.worker").info("kyso worker started: %s", ", ".join(j.name for j in runner.jobs))
    runner.run_forever(stop)
    logging.getLogger("kyso.worker").info("kyso worker stopped")


def _plain(summary: object) -> object:
    """A job's summary as JSON can hold it (a Delivery is a dataclass)."""
    import dataclasses

    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return dataclasses.asdict(summary)
    return summary
