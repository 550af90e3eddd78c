"""What happened, for whoever counts it: the seam between the domain packages and the metrics exporter.

Domain code reports events here (``count``, ``observe``, ``audited``) and never learns who listens; by
default nobody does and a report costs one attribute lookup and a call. ``api.observability`` installs a
listener that keeps Prometheus metrics, so ``ca/``, ``identity/`` and ``store/`` need no import of api/ or
of prometheus_client. The CLI installs nothing: a one-shot command has no one to be scraped by.

Events are named by what happened (``certificate.issued``) with a few bounded labels; ``audited`` is
called for every audit-log entry once its transaction has committed (``store.db`` runs the callbacks), so
what is counted is what is recorded, never an action that was rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Listener(Protocol):
    def count(self, event: str, labels: Mapping[str, str]) -> None: ...

    def observe(self, event: str, seconds: float, labels: Mapping[str, str]) -> None: ...

    def audited(self, action: str, outcome: str, details: Mapping[str, Any]) -> None: ...


class _Nobody:
    def count(self, event: str, labels: Mapping[str, str]) -> None:
        pass

    def observe(self, event: str, seconds: float, labels: Mapping[str, str]) -> None:
        pass

    def audited(self, action: str, outcome: str, details: Mapping[str, Any]) -> None:
        pass


_listener: Listener = _Nobody()


def listen(listener: Listener | None) -> None:
    """Install the process's listener (None: stop listening)."""
    global _listener
    _listener = listener if listener is not None else _Nobody()


def count(event: str, **labels: str) -> None:
    _listener.count(event, labels)


def observe(event: str, seconds: float, **labels: str) -> None:
    _listener.observe(event, seconds, labels)


def audited(action: str, outcome: str, details: Mapping[str, Any]) -> None:
    _listener.audited(action, outcome, details)
