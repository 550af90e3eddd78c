"""Log lines as JSON (one object a line) or text, each carrying the id of the request it belongs to.

``request_id`` is a context variable: api/ sets it per HTTP request and every line logged while that
request is served — by any package, in the event loop or a worker thread (anyio copies the context) —
carries it. ``logging_config`` is the ``logging.config.dictConfig`` that ``kyso serve`` hands uvicorn, so
uvicorn's own lines (start-up, errors) come out in the same format.

Nothing here decides what is logged; messages must not carry secrets in the first place (a test of the
whole flow greps the logs for every secret it used).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Any, Literal

LogFormat = Literal["json", "text"]
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("kyso_request_id", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=`` and goes into the JSON object.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"?, …extra, "exception"?}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message key=value…`` for a person at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        current = request_id.get()
        extra = " ".join(
            f"{name}={value}"
            for name, value in record.__dict__.items()
            if name not in _STANDARD and not name.startswith("_")
        )
        return (
            line
            + (f" [{current}]" if current and "request_id" not in extra else "")
            + (f" {extra}" if extra else "")
        )


def resolve_format(configured: str | None) -> LogFormat:
    """JSON unless told otherwise, or when a person is watching (stderr is a terminal)."""
    if configured in ("json", "text"):
        return configured  # type: ignore[return-value]
    return "text" if sys.stderr.isatty() else "json"


def logging_config(log_format: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for the service and uvicorn; uvicorn's access log is replaced by ``kyso.access``."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler = {"class": "logging.StreamHandler", "formatter": "kyso", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"kyso": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"kyso": handler},
        "loggers": {
            "kyso": {"handlers": ["kyso"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["kyso"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["kyso"], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["kyso"], "level": "WARNING"},
    }
