"""What every command shares: settings, the one mapping from error kinds to exit codes, output."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ca.runtime import CaRuntime
from core.errors import Kind, ServiceError, malformed
from core.settings import Settings, load_settings
from identity import audit
from keystore.secretbox import SecretBox

if TYPE_CHECKING:
    from signing.service import SigningService

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

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"KYSO_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]error:[/red] invalid settings: {escape(problems)}")
        raise typer.Exit(2) from None


def runtime(*, create_master_key: bool = False, check: bool = True) -> CaRuntime:
    """The instance the environment names; checked ready (schema, master key) unless ``check`` is off."""
    rt = CaRuntime.from_settings(settings(), create_master_key=create_master_key)
    if check:
        rt.check_ready()
    return rt


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
        except SQLAlchemyError as exc:
            err.print(
                f"[red]error:[/red] database error: {type(exc).__name__}; is the schema migrated "
                "(`kyso init`) and KYSO_DATABASE_URL right?"
            )
            raise typer.Exit(EXIT_CODES[Kind.UNAVAILABLE]) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]


def read_secret_file(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise malformed(f"cannot read {path}: {exc.strerror}") from None
    return lines[0] if lines else ""


def secret_box(rt: CaRuntime) -> SecretBox:
    return SecretBox(rt.settings.master_key_bytes())


def cli_actor() -> str:
    """Who the audit log names for a CLI action: the local operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


def record(session: Session, rt: CaRuntime, action: str, target: str | None, **details: object) -> None:
    """Append an audit entry for a CLI action, in the transaction of the action itself."""
    audit.append(session, clock=rt.ca.clock, actor=cli_actor(), action=action, target=target,
                 source="cli", details=details or None)  # fmt: skip


def signing_service(rt: CaRuntime) -> SigningService:
    """The signing pipeline over this instance's keys, with its TSA in-process (imported on use: pyHanko
    is slow to import, and most commands never sign)."""
    from ca.signing_keys import CaKeySource
    from ca.tsa import TimestampAuthority
    from ca.tsa_pyhanko import InProcessTimeStamper
    from signing.service import SigningService

    return SigningService(
        CaKeySource(rt.db, rt.ca),
        timestamper=InProcessTimeStamper(TimestampAuthority(rt.ca), rt.db),
        verify_url_base=rt.settings.base_url,
        max_document_bytes=rt.settings.max_document_mb << 20,
        now=rt.ca.clock.now,
    )
