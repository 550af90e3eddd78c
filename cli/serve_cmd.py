"""`kyso serve`: the HTTP service."""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer

from cli.common import handles_errors, runtime, settings


@handles_errors
def serve(
    host: Annotated[
        str | None, typer.Option(help="address to listen on (KYSO_HOST, default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="port (KYSO_PORT, default 8000)")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="worker processes sharing the port, each with its own OCSP cache "
            "(default 1; about one per CPU in production)",
        ),
    ] = 1,
) -> None:
    """Serve the API, the PKI endpoints and the pages.

    OCSP requests and desk check-ins are answered by a lean connection handler ahead of the
    application (api.fastpath.connection); everything else goes through uvicorn and FastAPI.
    """
    import uvicorn

    from core.logs import logging_config, resolve_format

    config = settings()
    runtime().db.dispose()  # checks the schema and the master key before a worker starts
    if workers > 1:
        _metrics_directory(config.data_dir)
    bind_host, bind_port = host or config.host, port or config.port
    base_url = config.base_url if "base_url" in config.model_fields_set else None
    if base_url is None:  # the links Kyso writes (passes, verify pages) name the port it really serves on
        os.environ["KYSO_BASE_URL"] = local_url(bind_host, bind_port)
    typer.echo(startup_message(bind_host, bind_port, base_url))  # stdout, flushed; the logs go to stderr
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        # api.forwarded decides who the client is (KYSO_TRUSTED_PROXIES), checking what the header holds;
        # uvicorn's own handling (FORWARDED_ALLOW_IPS) would take anything a trusted peer forwarded
        proxy_headers=False,
        http="api.fastpath.connection:FastPathProtocol",
        # A spawned worker imports the whole CLI (the main module) before it can answer the supervisor's
        # health check; on a loaded machine that takes longer than uvicorn's 5 s, and the worker is killed
        # and respawned forever.
        timeout_worker_healthcheck=60,
        # JSON (or text) lines with request ids; api.observability writes the access log (kyso.access)
        log_config=logging_config(resolve_format(config.log_format)),
        access_log=False,
    )


PAGES = (
    ("/verify", "verify a signed document (citizens)"),
    ("/portal", "officials' portal"),
    ("/desk", "security desk"),
    ("/docs", "API docs (integrators)"),
)


LISTEN_ALL = ("", "0.0.0.0", "::")  # noqa: S104  (recognising it, not binding)


def local_url(host: str, port: int) -> str:
    """This machine's URL of a server bound to ``host``:``port`` (loopback for all addresses)."""
    local_host = "127.0.0.1" if host in LISTEN_ALL else host
    if ":" in local_host:
        local_host = f"[{local_host}]"  # an IPv6 address in a URL
    return f"http://{local_host}:{port}"


def startup_message(host: str, port: int, base_url: str | None = None) -> str:
    """What `kyso serve` prints as it starts: the address it listens on and the pages' URLs — under
    KYSO_BASE_URL when that is set (the address people use, behind a proxy), else the local one."""
    listen_all = host in LISTEN_ALL
    local = local_url(host, port)
    public = base_url.rstrip("/") if base_url else local
    where = f"{local}/" + (" (listening on all addresses)" if listen_all else "")
    lines = [f"Kyso is running: {where}"]
    if public != local:
        lines.append(f"  public address (KYSO_BASE_URL): {public}/")
    lines += [f"  {public}{path:<8} {what}" for path, what in PAGES]
    return "\n".join(lines)


def _metrics_directory(data_dir: Path) -> None:
    """Several workers keep their Prometheus values in files of one directory (prometheus_client's
    multiprocess mode). Set before any worker starts, as prometheus_client reads it when a worker imports
    it. The directory is this server's own (host name and process id): another `kyso serve` on the same
    data directory — a second container on the volume, a new server started beside the old — neither adds
    its counters in nor deletes these files; it is new at every start and removed when the server stops."""
    import socket

    directory = (data_dir / "prometheus" / f"{socket.gethostname()}-{os.getpid()}").resolve()
    shutil.rmtree(directory, ignore_errors=True)  # a pid reused after a crash
    directory.mkdir(parents=True, mode=0o700)
    atexit.register(shutil.rmtree, directory, True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
