"""What every command shares: settings, the one mapping from error kinds to exit codes, output."""

from __future__ import annotations

import functools
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from core.errors import Kind, ServiceError, malformed, not_found

# Only typer, rich and core.errors at import time: `kyso --help` must not pay for pyHanko, pkilint,
# SQLAlchemy or pydantic (tests/cli/test_startup.py). Each command imports its domain modules when it runs.
if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.settings import Settings
    from services.audit import Actor
    from services.root import Kyso

EXIT_CODES = {
    Kind.MALFORMED: 2,
    Kind.NOT_FOUND: 3,
    Kind.CONFLICT: 4,
    Kind.UNAUTHORIZED: 5,
    Kind.FORBIDDEN: 5,
    Kind.EXPIRED: 6,
    Kind.TOO_LARGE: 2,
    Kind.UNAVAILABLE: 7,
    Kind.INTERNAL: 70,
}

out = Console(highlight=False, soft_wrap=True, markup=False)  # names may contain [brackets]
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Group(TyperGroup):
    """Every `kyso` group. Typer 0.29 passes a flag that was not given (the group's own --help and the
    completion options, default None) through a pydantic TypeAdapter, importing pydantic — a third of
    the time of `kyso verify --help`; with the default False it takes its path for booleans instead."""

    def get_params(self, ctx: typer.Context) -> list:  # type: ignore[override]
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.default is None:
                param.default = False
        return params


P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    from pydantic import ValidationError

    from core.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"KYSO_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]error:[/red] invalid settings: {escape(problems)}")
        raise typer.Exit(2) from None


def runtime(*, create_master_key: bool = False, check: bool = True) -> Kyso:
    """The instance the environment names; checked ready (schema, master key) unless ``check`` is off.
    Only `kyso init` (``create_master_key``) may start from nothing: any other command refuses, creating
    nothing, when the data directory holds no instance."""
    from services.root import Kyso

    config = settings()
    if not create_master_key:
        require_instance(config)
    rt = Kyso.build(config, create_master_key=create_master_key)
    if check:
        rt.check_ready()
    return rt


def require_instance(config: Settings) -> None:
    """Refuse, naming where it looked, when there is no instance: without this an empty SQLite file was
    left behind, and the hint to run `kyso init` would have started a second CA beside the real one."""
    if config.database_url is None:
        database = config.data_dir / "kyso.db"
        if not database.is_file():
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"no Kyso instance in {config.data_dir.resolve()} (set KYSO_DATA_DIR or run from the "
                "instance's directory; `kyso init` creates a new one)",
            )
        return
    url = config.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"no Kyso database at {path.resolve()} "
                "(check KYSO_DATABASE_URL; `kyso init` creates a new one)",
            )


MIN_SERIAL_PREFIX = 4  # hex digits, as `git` asks of a commit prefix
SHOWN_CANDIDATES = 5


def resolve_serial(session: Session, text: str) -> str:
    """The full serial ``text`` names: the serial itself, or a unique prefix of at least
    ``MIN_SERIAL_PREFIX`` hex digits (any case, ``:`` and spaces ignored). The one place every command
    taking a serial resolves it; the store is asked with a LIKE prefix, never loaded whole."""
    from core.ids import clean_serial_text, serial_hex
    from store import repositories

    cleaned = clean_serial_text(text)
    exact = serial_hex(int(cleaned, 16))
    if repositories.serial_exists(session, exact):
        return exact
    if len(cleaned) < MIN_SERIAL_PREFIX:
        raise malformed(
            f"serial {cleaned} matches no certificate (a prefix needs {MIN_SERIAL_PREFIX} hex digits or more)"
        )
    rows = repositories.serials_starting_with(session, cleaned, SHOWN_CANDIDATES + 1)
    if not rows:
        raise not_found(f"no certificate with serial {cleaned} or a serial starting with it")
    if len(rows) > 1:
        shown = ", ".join(f"{serial} ({name})" for serial, name in rows[:SHOWN_CANDIDATES])
        more = ", …" if len(rows) > SHOWN_CANDIDATES else ""
        raise malformed(f"serial prefix {cleaned} is ambiguous: {shown}{more}; give more digits")
    return rows[0][0]


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm_or_refuse(question: str, action: str) -> None:
    """Ask on the terminal (default no); without one, refuse at once rather than wait for an answer."""
    if not stdin_is_terminal():
        raise malformed(f"not asking to confirm {action}: standard input is not a terminal; pass --yes")
    if not typer.confirm(question, default=False, err=True):
        err.print(f"{action} cancelled")
        raise typer.Exit(1)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn ServiceErrors into a one-line message and the kind's exit code; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ServiceError as exc:
            err.print(f"[red]error:[/red] {escape(exc.message)}")
            for finding in exc.details.get("findings", []):
                err.print(escape(f"  {finding['severity']} {finding['code']} {finding.get('message') or ''}"))
            raise typer.Exit(EXIT_CODES[exc.kind]) from None
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            err.print(
                f"[red]error:[/red] database error: {type(exc).__name__}; is the schema migrated "
                "(`kyso init`) and KYSO_DATABASE_URL right?"
            )
            raise typer.Exit(EXIT_CODES[Kind.UNAVAILABLE]) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _is_database_error(exc: BaseException) -> bool:
    """An SQLAlchemy error (SQLAlchemy is imported only by commands that touch the database)."""
    exc_module = sys.modules.get("sqlalchemy.exc")
    return exc_module is not None and isinstance(exc, exc_module.SQLAlchemyError)


CLI_LOG = "kyso-cli.log"


class _DataDirLog(logging.Handler):
    """Library log lines (pyHanko's warnings, a traceback it logs for a damaged file, Python warnings) go
    to ``CLI_LOG`` in the instance's data directory, opened on the first line; where no data directory
    exists they are dropped, as nothing may be created outside an instance."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(logging.INFO)
        self.data_dir = data_dir
        self._file: logging.Handler | None = None
        self._resolved = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self._resolved:
            self._resolved = True
            try:
                from core.logs import TextFormatter

                data_dir = self.data_dir
                if data_dir.is_dir():
                    self._file = logging.FileHandler(data_dir / CLI_LOG, encoding="utf-8")
                    self._file.setFormatter(TextFormatter())
            except OSError:
                self._file = None
        if self._file is not None:
            self._file.emit(record)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def route_library_logs(verbose: bool) -> Callable[[], None]:
    """Keep library logging and warnings off the terminal: only Kyso's own output reaches it. With
    ``--verbose`` they are printed on stderr; otherwise they go to the data directory's ``CLI_LOG``.
    Returns what undoes it (called as the command ends, so an in-process run leaves nothing behind)."""
    root = logging.getLogger()
    unroute_library_logs()
    handler: logging.Handler
    if verbose:
        from core.logs import TextFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TextFormatter())
    else:
        handler = _DataDirLog(Path(os.environ.get("KYSO_DATA_DIR") or "./var").absolute())
    handler.kyso_cli = True
    root.addHandler(handler)  # a handler on the root also keeps logging's last-resort printer quiet
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # pyHanko's own lines come through verification.pyhanko at DEBUG (without tracebacks): shown with -v
    logging.getLogger("verification.pyhanko").setLevel(logging.DEBUG if verbose else logging.NOTSET)
    logging.captureWarnings(True)  # warnings.warn(...) becomes a py.warnings log line
    return unroute_library_logs


def unroute_library_logs() -> None:
    root = logging.getLogger()
    logging.getLogger("verification.pyhanko").setLevel(logging.NOTSET)
    for handler in list(root.handlers):
        if getattr(handler, "kyso_cli", False):
            root.removeHandler(handler)
            handler.close()
            logging.captureWarnings(False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def read_secret_file(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise malformed(f"cannot read {path}: {exc.strerror}") from None
    return lines[0] if lines else ""


def cli_actor() -> str:
    """Who the audit log names for a CLI action: the local operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def cli_as_actor() -> Actor:
    """The local operating-system user, as services/ record it."""
    from services.audit import Actor

    return Actor(cli_actor(), "cli")
