"""Throwaway PostgreSQL servers for the test suite.

``postgres_url()`` yields a SQLAlchemy URL for a PostgreSQL database the tests may freely write to:
either the one named by ``KYSO_TEST_DATABASE_URL`` or, if that is unset, a brand-new cluster started by
``throwaway_cluster()`` in a temporary directory and removed again on exit.  ``fresh_database()`` gives a
test module its own empty database on that server.

Why ``runuser``: the test suite often runs as root (containers, CI), and PostgreSQL refuses to run as
root (``initdb`` and ``postgres`` exit with "cannot be run as root").  So, when we are root, the data
directory is chowned to the ``postgres`` system user and every server binary (``initdb``, ``pg_ctl``,
``createdb``, ``pg_isready``) is run as that user through ``runuser -u postgres -- ...``.  When we are not
root, the binaries simply run as the current user.

The server listens on 127.0.0.1 only, on a free port, with trust authentication for the superuser
``kyso`` (no password) and durability switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``) because the data is thrown away anyway.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = [
    "ENV_VAR",
    "available",
    "fresh_database",
    "libpq_url",
    "postgres_url",
    "throwaway_cluster",
]

ENV_VAR = "KYSO_TEST_DATABASE_URL"
SUPERUSER = "kyso"
DATABASE = "kyso"
SYSTEM_USER = "postgres"

_TOOLS = ("initdb", "pg_ctl", "createdb", "pg_isready", "postgres")
_SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    " -c full_page_writes=off -c max_connections=200"
)
_START_ATTEMPTS = 3
_COMMAND_TIMEOUT = 120.0
_READY_TIMEOUT = 30.0
_LOG_TAIL_LINES = 40


# --------------------------------------------------------------------------------------------- discovery


def _version_key(bin_dir: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: "15" -> (15,), "9.6" -> (9, 6)."""
    version = Path(bin_dir).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (-1,)


def _tool_paths() -> dict[str, str] | None:
    """Absolute paths of the server binaries, or None if any of them cannot be found.

    Prefers the newest ``/usr/lib/postgresql/<version>/bin``; otherwise uses the directory of ``pg_ctl``
    on PATH (symlinks resolved, so Debian's ``/usr/local/bin/pg_ctl -> .../15/bin/pg_ctl`` works), and
    finally looks each tool up on PATH on its own.
    """
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for directory in candidates:
        paths = {tool: os.path.join(directory, tool) for tool in _TOOLS}
        if all(os.access(path, os.X_OK) for path in paths.values()):
            return paths
    found = {tool: shutil.which(tool) for tool in _TOOLS}
    if all(found.values()):
        return {tool: str(path) for tool, path in found.items()}
    return None


def _is_root() -> bool:
    return os.geteuid() == 0


def available() -> str | None:
    """None if a PostgreSQL database can be provided here, else a human-readable reason why not.

    Meant for ``pytest.skip(reason)``.  With ``KYSO_TEST_DATABASE_URL`` set nothing needs starting, so the
    answer is always None.
    """
    if os.environ.get(ENV_VAR):
        return None
    return _local_reason()


def _local_reason() -> str | None:
    """Why a throwaway cluster cannot be started here (ignoring ``KYSO_TEST_DATABASE_URL``), or None."""
    if _tool_paths() is None:
        missing = ", ".join(_TOOLS)
        return f"PostgreSQL server binaries ({missing}) not found under /usr/lib/postgresql/*/bin or on PATH"
    if _is_root():
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root but there is no {SYSTEM_USER!r} system user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root but runuser(1) is not available to drop privileges"
    return None


# ------------------------------------------------------------------------------------------------ helpers


def libpq_url(url: str) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into one libpq/``psycopg.connect`` accepts."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The current environment minus libpq's PG* variables, which would redirect our client tools, and
    minus libfaketime: the suite under a faked date (`make test-dates`) fakes Kyso's clock, not the
    database server's. Under libfaketime the server's own timers (lock_timeout, statement_timeout,
    idle_in_transaction_session_timeout) never fire, and Kyso passes every timestamp it stores itself."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PG", "FAKETIME")) and key != "LD_PRELOAD"
    }
    preload = [p for p in os.environ.get("LD_PRELOAD", "").split(":") if p and "faketime" not in p]
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    env["LC_MESSAGES"] = "C"
    return env


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _log_tail(log_file: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log at {log_file}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(server log is empty)"


class _Cluster:
    """One initdb'd data directory under a private temporary root, and the server running on it."""

    def __init__(self, tools: dict[str, str]) -> None:
        self.tools = tools
        self.root = Path(tempfile.mkdtemp(prefix="kyso-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self.as_root = _is_root()
        self.env = _clean_env()
        if self.as_root:
            account = pwd.getpwnam(SYSTEM_USER)
            _chown_tree(self.root, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL binary (as ``postgres`` when we are root); raise RuntimeError on failure."""
        argv = [self.tools[tool], *args]
        if self.as_root:
            argv = ["runuser", "-u", SYSTEM_USER, "--", *argv]
        try:
            # cwd=root: the postgres user may not be able to enter our cwd (e.g. /root), and some
            # PostgreSQL tools call getcwd() and fail hard when they cannot.
            result = subprocess.run(
                argv,
                cwd=self.root,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self.error(f"{tool} could not be run: {exc}") from exc
        if check and result.returncode != 0:
            raise self.error(
                f"{shlex.join(argv)} exited with {result.returncode}\n"
                f"stdout:\n{result.stdout.strip()}\nstderr:\n{result.stderr.strip()}"
            )
        return result

    def error(self, message: str) -> RuntimeError:
        return RuntimeError(
            f"throwaway PostgreSQL: {message}\n--- server log ({self.log}) ---\n{_log_tail(self.log)}"
        )

    def initdb(self) -> None:
        common = ["-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "--encoding=UTF8", "--no-sync"]
        try:
            self.run("initdb", *common, "--locale=C.UTF-8")
        except RuntimeError:
            # Minimal systems may lack the C.UTF-8 locale; plain C with UTF8 encoding works everywhere.
            shutil.rmtree(self.data, ignore_errors=True)
            self.run("initdb", *common, "--locale=C")

    def start(self) -> None:
        last_error: RuntimeError | None = None
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            options = f"-p {self.port} -k {self.root} {_SERVER_OPTIONS}"
            try:
                self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
                return
            except RuntimeError as exc:
                # Most likely somebody grabbed the port between _free_port() and the bind; try another.
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            args = ("-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres", "-t", "5")
            result = self.run("pg_isready", *args, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise self.error(f"server on port {self.port} not ready: {result.stdout.strip()}")
            time.sleep(0.1)

    def createdb(self) -> None:
        self.run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, DATABASE)

    def stop(self) -> None:
        """Stop the server if it is running (immediate shutdown; the data is about to be deleted)."""
        if not (self.data / "postmaster.pid").exists():
            return
        with contextlib.suppress(RuntimeError):
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._kill_leftover_postmaster()

    def _kill_leftover_postmaster(self) -> None:
        """Last resort if ``pg_ctl stop`` failed: SIGKILL the postmaster we started (its pid is on file)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- API


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private PostgreSQL cluster; yield ``postgresql+psycopg://kyso@127.0.0.1:<port>/kyso``.

    Always starts a new cluster (it ignores ``KYSO_TEST_DATABASE_URL``; use ``postgres_url()`` for that).
    On exit the server is stopped and its directory removed, also when the body raises.  Raises
    RuntimeError, including the tail of the server log, if the cluster cannot be brought up.
    """
    reason = _local_reason()
    if reason is not None:
        raise RuntimeError(f"throwaway PostgreSQL: {reason}")
    tools = _tool_paths()
    assert tools is not None
    cluster = _Cluster(tools)
    try:
        cluster.initdb()
        cluster.start()
        cluster.wait_ready()
        cluster.createdb()
        yield cluster.url
    finally:
        cluster.stop()
        cluster.remove()


@contextmanager
def postgres_url() -> Iterator[str]:
    """Yield ``KYSO_TEST_DATABASE_URL`` if set (starting nothing), else a ``throwaway_cluster()`` URL."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        yield configured
        return
    with throwaway_cluster() as url:
        yield url


def fresh_database(admin_url: str, name: str) -> str:
    """(Re)create an empty database ``name`` on the server of ``admin_url``; return its URL.

    ``admin_url`` is a SQLAlchemy URL such as the one ``postgres_url()`` yields; the returned URL is the
    same with the database name replaced.  An existing database of that name is dropped first, even if
    sessions are still connected to it (``WITH (FORCE)``, PostgreSQL 13+).
    """
    if not name or len(name.encode()) > 63:
        raise ValueError(f"invalid database name {name!r} (must be 1..63 bytes)")
    url = make_url(admin_url)
    if url.database == name:
        raise ValueError(f"refusing to drop the admin database {name!r} itself")
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.set(database=name).render_as_string(hide_password=False)
