"""What a request may carry: integers the database can hold, and strings without NUL characters.

Integer parameters are bounded by the column they are compared with or written to, on both databases:
SQLite's INTEGER is 64-bit, PostgreSQL's INTEGER 32-bit and BIGINT 64-bit, so an ``Integer`` column
holds at most 2**31 - 1. The shared types below take their bounds from the models (``column_max``), so
a column changed to ``BigInteger`` widens its parameters with it. Out of range is a 422 problem+json.

PostgreSQL text cannot hold a NUL character (SQLite can, but it is never meaningful in a name, a code or
a serial). ``refuse_nul``, a dependency of every route (``FastAPI(dependencies=...)``), refuses one in a
path or query parameter, a form field or a JSON string (values and keys, at any depth) with a 422
problem+json, after FastAPI parsed the request and before any route dependency or handler runs. Routes
that parse their own JSON body call ``refuse_nul_in`` on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field
from sqlalchemy import BigInteger, Integer, SmallInteger

from store.models import ApiKey, AuditEntry, CheckIn, OfflineCheckIn

NUL = "\x00"
NUL_MESSAGE = "a NUL character (\\u0000) is not allowed"
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def column_max(column: Any) -> int:
    """The largest integer ``column`` (a mapped attribute or a Column) holds on SQLite and PostgreSQL."""
    kind = getattr(column, "expression", column).type
    if isinstance(kind, BigInteger):
        return INT64_MAX
    if isinstance(kind, SmallInteger):
        return 2**15 - 1
    if isinstance(kind, Integer):
        return INT32_MAX
    raise TypeError(f"{column} is not an integer column")


# Row counts: no table has more rows than its 32-bit id column numbers, so skipping more finds nothing.
ROW_COUNT_MAX = INT32_MAX

ApiKeyId = Annotated[int, Path(ge=1, le=column_max(ApiKey.id), description="the API key's id")]
ConflictId = Annotated[
    int, Path(ge=1, le=column_max(OfflineCheckIn.id), description="the offline record's id")
]
CheckInId = Annotated[int, Field(ge=1, le=column_max(CheckIn.id))]
AuditSeq = Annotated[
    int,
    Query(ge=0, le=column_max(AuditEntry.seq), description="return entries after this sequence number"),
]
Offset = Annotated[int, Query(ge=0, le=ROW_COUNT_MAX, description="items to skip")]


def nul_locations(value: object, location: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """Where in ``value`` (JSON-like: strings, lists, dicts) a NUL character is."""
    if isinstance(value, str):
        if NUL in value:
            yield location
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                yield (*location, key.replace(NUL, "\\u0000"))
            yield from nul_locations(item, (*location, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_locations(item, (*location, index))


def _refuse(locations: list[tuple[str | int, ...]]) -> None:
    if locations:
        raise RequestValidationError(
            [{"type": "string_nul", "loc": loc, "msg": NUL_MESSAGE, "input": None} for loc in locations]
        )


def refuse_nul_in(value: object, location: str = "body") -> None:
    """422 if the parsed JSON ``value`` has a NUL character in any string."""
    _refuse(list(nul_locations(value, (location,))))


async def refuse_nul(request: Request) -> None:
    """422 if a path or query parameter, a form field or a JSON string has a NUL character."""
    found: list[tuple[str | int, ...]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            found.append(("path", name))
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            found.append(("query", name.replace(NUL, "\\u0000")))
    # what FastAPI has already parsed for the route (Starlette keeps it on the request); never read here
    form = getattr(request, "_form", None)
    if form is not None:
        for name, value in form.multi_items():
            text = value if isinstance(value, str) else getattr(value, "filename", None) or ""
            if NUL in name or NUL in text:  # a field, or an uploaded file's name
                found.append(("body", name.replace(NUL, "\\u0000")))
    body = getattr(request, "_json", None)
    if body is not None:
        found.extend(nul_locations(body, ("body",)))
    _refuse(found)
