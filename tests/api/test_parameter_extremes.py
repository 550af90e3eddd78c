"""No parameter ever causes a 5xx: every route of the app, every path and query parameter, form field and
JSON body field, sent the extremes (2**31, 2**63, -1, a NUL character, a 10 kB string) by an admin (by a
desk account where an admin may not), on SQLite and on PostgreSQL. Every 4xx is problem+json (a page left
out of OpenAPI may answer with an HTML page instead), and a NUL anywhere is a 422.

The routes come from ``app.routes`` and their parameters from the OpenAPI document (or, for the pages
left out of it, from the route's dependant), so a new route or field is covered without listing it here.
Each case sends the required parameters with plain values and one parameter at an extreme.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import params
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.fastpath import checkins as checkin_fastpath
from api.fastpath import ocsp as ocsp_fastpath
from api.fastpath.http import FOREIGN
from tests.conftest import DATABASES, Instance, bearer, make_account, make_instance, new_database_url

NUL = "a\x00b"
EXTREMES: list[object] = [2**31, 2**63, -1, NUL, "x" * 10_240]
PDF = b"%PDF-1.4\n%not really a document\n"
# Logging out would end the admin's token for every later case (it has no parameters anyway).
SKIPPED = {("POST", "/api/v1/auth/logout")}
# Answered ahead of routing (api.fastpath.ocsp): an OCSP answer (malformedRequest, unauthorized), never a 5xx.
ANSWERED_AHEAD = "/ocsp/"
# The CSC API answers its own error shape ({"error", "error_description"}, application/json), a NUL with 400
# invalid_request, as the Cloud Signature Consortium's specification says (api/routers/csc.py).
CSC = "/csc/"


@dataclass
class Operation:
    method: str
    path: str  # the template, e.g. /api/v1/api-keys/{key_id}
    documented: bool  # in the OpenAPI document (else a page: may answer a 4xx in HTML)
    path_params: dict[str, Any] = field(default_factory=dict)  # name → a plain value
    query: dict[str, Any] = field(default_factory=dict)  # every query parameter → a plain value
    required_query: set[str] = field(default_factory=set)
    body_kind: str | None = None  # json | form | multipart
    body: dict[str, Any] = field(default_factory=dict)  # every field → a plain value
    required_body: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    array_fields: set[str] = field(default_factory=set)


def _routes(routes: list, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _routes(original.routes, prefix + route.include_context.prefix)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _plain(schema: dict[str, Any], spec: dict[str, Any], name: str = "") -> Any:
    """A plausible value for a schema (enough to pass validation, where it can)."""
    schema = _resolve(schema, spec)
    if schema.get("default") is not None:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("examples"):
        return schema["examples"][0]
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _plain(option, spec, name)
    kind = schema.get("type")
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    if kind == "array":
        return [_plain(schema.get("items", {}), spec, name) for _ in range(schema.get("minItems", 0))]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _plain(v, spec, k) for k, v in props.items() if k in schema.get("required", [])}
    if schema.get("format") == "date":
        return "2026-12-02"
    if schema.get("format") == "date-time":
        return "2026-12-03T09:00:00+07:00"
    return "a" * max(1, schema.get("minLength", 1)) if name != "desk" else "gate-1"


def _from_openapi(operation: Operation, op: dict[str, Any], spec: dict[str, Any]) -> None:
    for parameter in op.get("parameters", []):
        value = _plain(parameter.get("schema", {}), spec, parameter["name"])
        if parameter["in"] == "path":
            operation.path_params[parameter["name"]] = value
        elif parameter["in"] == "query":
            operation.query[parameter["name"]] = value
            if parameter.get("required"):
                operation.required_query.add(parameter["name"])
    content = op.get("requestBody", {}).get("content", {})
    for media_type, kind in (
        ("application/json", "json"),
        ("application/x-www-form-urlencoded", "form"),
        ("multipart/form-data", "multipart"),
    ):
        if media_type not in content:
            continue
        schema = _resolve(content[media_type]["schema"], spec)
        operation.body_kind = kind
        operation.required_body = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            prop = _resolve(prop, spec)
            items = prop.get("items", {})
            if "contentMediaType" in prop or prop.get("format") == "binary" or "contentMediaType" in items:
                operation.files.append(name)
                continue
            operation.body[name] = _plain(prop, spec, name)
            if prop.get("type") == "array" or any(o.get("type") == "array" for o in prop.get("anyOf", [])):
                operation.array_fields.add(name)


def _fields_of(dependant: Any) -> Iterator[tuple[str, Any]]:
    """(where, field) of a route's parameters, its dependencies' too (for routes left out of OpenAPI)."""
    for where in ("path_params", "query_params", "body_params"):
        for found in getattr(dependant, where, []):
            yield where, found
    for sub in getattr(dependant, "dependencies", []):
        yield from _fields_of(sub)


def _from_dependant(operation: Operation, route: APIRoute) -> None:
    for where, found in _fields_of(route.dependant):
        name = found.alias
        info = found.field_info
        if where == "path_params":
            operation.path_params[name] = "a"
        elif where == "query_params":
            operation.query[name] = "a"
            if found.field_info.is_required():
                operation.required_query.add(name)
        elif isinstance(info, params.File):
            operation.body_kind = "multipart"
            operation.files.append(name)
        else:
            operation.body_kind = operation.body_kind or ("form" if isinstance(info, params.Form) else "json")
            operation.body[name] = "a"
            if info.is_required():
                operation.required_body.add(name)


def operations(app: Any) -> list[Operation]:
    spec = app.openapi()
    found = []
    for template, route in _routes(app.routes):
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", template)
        for method in sorted(route.methods - {"HEAD"}):
            if (method, path) in SKIPPED:
                continue
            op = spec["paths"].get(path, {}).get(method.lower())
            operation = Operation(method, path, documented=op is not None)
            if op is not None:
                _from_openapi(operation, op, spec)
            else:
                _from_dependant(operation, route)
            for name in re.findall(r"\{(\w+)\}", path):  # every placeholder, documented or not
                operation.path_params.setdefault(name, "a")
            found.append(operation)
    return found


@dataclass
class Case:
    operation: Operation
    where: str  # path | query | body
    name: str
    value: object

    @property
    def label(self) -> str:
        shown = repr(self.value) if not isinstance(self.value, str) or len(self.value) < 20 else "10 kB"
        return f"{self.operation.method} {self.operation.path} {self.where}.{self.name}={shown}"


def cases(operation: Operation) -> Iterator[Case]:
    for where, names in (
        ("path", operation.path_params),
        ("query", operation.query),
        ("body", operation.body),
    ):
        for name in names:
            for value in EXTREMES:
                yield Case(operation, where, name, value)
                if where == "body" and name in operation.array_fields:
                    yield Case(operation, where, name, [value])


def send(client: TestClient, case: Case, headers: dict[str, str]):
    operation = case.operation
    path_values = {**operation.path_params}
    query = {k: v for k, v in operation.query.items() if k in operation.required_query}
    body = {k: v for k, v in operation.body.items() if k in operation.required_body}
    {"path": path_values, "query": query, "body": body}[case.where][case.name] = case.value
    url = re.sub(r"\{(\w+)\}", lambda m: quote(str(path_values[m.group(1)]), safe=""), operation.path)
    request: dict[str, Any] = {"params": {k: str(v) for k, v in query.items()}, "headers": headers}
    if operation.body_kind == "json":
        request["json"] = body
    elif operation.body_kind in ("form", "multipart"):
        request["data"] = {k: [str(i) for i in v] if isinstance(v, list) else str(v) for k, v in body.items()}
        if operation.files:
            request["files"] = [(name, ("document.pdf", PDF, "application/pdf")) for name in operation.files]
    return client.request(operation.method, url, **request)


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, TestClient, dict[str, dict[str, str]]]]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    tmp = tmp_path_factory.mktemp("extremes")
    instance: Instance = make_instance(tmp, new_database_url(request.param, tmp, request))
    app = create_app(instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        callers = {"admin": bearer(client, make_account(instance, "admin"))}
        venue = {"code": "UBND-BT", "name": "UBND Phường Bến Thành", "desks": ["gate-1"]}
        assert client.post("/api/v1/venues", json=venue, headers=callers["admin"]).status_code == 201
        callers["desk"] = bearer(client, make_account(instance, "desk", venue="UBND-BT"))
        yield app, client, callers
    app.state.kyso.runtime.db.dispose()
    instance.db.dispose()


def test_the_table_covers_every_route(served) -> None:
    app, _, _ = served
    table = operations(app)
    assert len(table) > 60
    by_route = {(o.method, o.path): o for o in table}
    assert by_route["DELETE", "/api/v1/api-keys/{key_id}"].path_params == {"key_id": 1}
    assert "checkin_id" in by_route["POST", "/api/v1/checkins/checkout"].body
    assert "desk" in by_route["POST", "/api/v1/checkins"].body  # a route that parses its own JSON
    assert "token" in by_route["GET", "/pass/{token}"].path_params  # a page, not in OpenAPI
    assert sum(1 for o in table for _ in cases(o)) > 500


def _failure(case: Case, response: Any) -> str | None:
    operation = case.operation
    media_type = response.headers.get("content-type", "").split(";")[0]
    if response.status_code >= 500:
        return f"{case.label} → {response.status_code} {response.text[:200]}"
    csc = operation.path.startswith(CSC)
    problem = media_type == "application/problem+json" or (
        not operation.documented and media_type == "text/html"
    )
    if csc:
        problem = media_type == "application/json" and {"error", "error_description"} <= set(response.json())
    if 400 <= response.status_code < 500 and not problem:
        return f"{case.label} → {response.status_code} as {media_type}"
    nul = NUL in (case.value, *(case.value if isinstance(case.value, list) else ()))
    if csc and nul and response.status_code != 400:
        return f"{case.label} → {response.status_code}, not 400 invalid_request"
    if nul and response.status_code != 422 and not operation.path.startswith((ANSWERED_AHEAD, CSC)):
        return f"{case.label} → {response.status_code}, not 422"
    return None


def test_no_parameter_causes_a_server_error(served) -> None:
    app, client, callers = served
    failures: list[str] = []
    for operation in operations(app):
        for case in cases(operation):
            response = send(client, case, callers["admin"])
            if response.status_code == 403:  # the desk routes: as a desk, so the request is read
                response = send(client, case, callers["desk"])
            if (failure := _failure(case, response)) is not None:
                failures.append(failure)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:80])


# --- the fast paths read some requests before FastAPI: a NUL there goes to the route (or to uvicorn) ------
def _checkin(body: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        b"POST /api/v1/checkins HTTP/1.1\r\nHost: kyso\r\nAuthorization: Bearer some-token\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n"
    )
    return head + data


@pytest.mark.parametrize("name", ["desk", "payload"])
def test_the_check_in_fast_path_leaves_a_nul_to_the_route(name: str) -> None:
    plain = {"desk": "gate-1", "payload": "KY1:abc"}
    assert isinstance(checkin_fastpath.parse(_checkin(plain)), checkin_fastpath.CheckinRequest)
    assert checkin_fastpath.parse(_checkin({**plain, name: NUL})) is FOREIGN


def test_the_ocsp_fast_path_leaves_a_raw_nul_in_the_authority_to_uvicorn() -> None:
    assert ocsp_fastpath.route("GET", b"/ocsp/citizen/MEE=") == ("citizen", b"MEE=")
    assert ocsp_fastpath.route("GET", b"/ocsp/a\x00b/MEE=") is None
    assert ocsp_fastpath.route("POST", b"/ocsp/a\x00b") is None
    assert ocsp_fastpath.parse(b"POST /ocsp/a\x00b HTTP/1.1\r\nContent-Length: 0\r\n\r\n") is FOREIGN
