"""The one error type of Kyso. Domain code raises it; api/ and cli/ map its kind once."""

from __future__ import annotations

import enum
from typing import Any


class Kind(enum.StrEnum):
    MALFORMED = "malformed"  # the input cannot be understood or breaks a rule
    UNAUTHORIZED = "unauthorized"  # who you are is not established
    FORBIDDEN = "forbidden"  # you may not do this
    NOT_FOUND = "not-found"
    CONFLICT = "conflict"  # the request clashes with the current state
    EXPIRED = "expired"
    TOO_LARGE = "too-large"  # a body or document over the configured limit
    UNAVAILABLE = "unavailable"  # a dependency (database, key) is not reachable right now
    INTERNAL = "internal"  # a bug; details never reach a client


class ServiceError(Exception):
    """An error a user can act on.

    ``details`` carries machine-readable extras (for example lint findings) that api/ puts into the
    problem document and cli/ prints; it must never hold secrets.
    """

    def __init__(self, kind: Kind, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"ServiceError({self.kind.value!r}, {self.message!r})"


def malformed(message: str, **details: Any) -> ServiceError:
    return ServiceError(Kind.MALFORMED, message, details=details or None)


def not_found(message: str) -> ServiceError:
    return ServiceError(Kind.NOT_FOUND, message)


def conflict(message: str, **details: Any) -> ServiceError:
    return ServiceError(Kind.CONFLICT, message, details=details or None)
