"""Every route is either on the reviewed public list or declares a permission, and refuses callers without
it: anonymous callers get 401, every role without the permission gets 403, and nothing changes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import PUBLIC_ROUTES
from identity.permissions import ROLES, Permission
from tests.conftest import Instance, bearer, make_account

CALLERS = ["anonymous", "admin", "ca-operator", "official", "clerk", "desk", "citizen", "service-key"]


def _routes(routes: list) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _routes(original.routes)


def _permission(route: APIRoute) -> Permission | frozenset[Permission] | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            return permission
        pending.extend(dependency.dependencies)
    return None


def route_table(app) -> list[tuple[str, str, Permission | frozenset[Permission] | None]]:
    table = []
    for route in _routes(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            table.append((method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), _permission(route)))
    return table


@pytest.fixture(scope="module")
def app(shared_instance: Instance):
    application = create_app(shared_instance.settings)
    yield application
    application.state.kyso.runtime.db.dispose()


def test_every_route_is_public_or_declares_one_permission(app) -> None:
    table = route_table(app)
    assert len(table) > 20
    declared = {(method, path) for method, path, _ in table}
    assert (
        not {r for r in PUBLIC_ROUTES if not r[1].startswith(("/docs", "/openapi", "/redoc"))} - declared
    ), "the public list names routes that no longer exist"
    for method, path, permission in table:
        if (method, path) in PUBLIC_ROUTES:
            assert permission is None, f"{method} {path} is public but declares {permission}"
        else:
            assert permission is not None, f"{method} {path} is neither public nor protected by a permission"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "citizen" if "authority" in m.group(0) else "0badc0de", path)


@pytest.fixture(scope="module")
def headers(app, shared_instance: Instance) -> dict[str, dict[str, str]]:
    with TestClient(app, raise_server_exceptions=False) as client:
        result = {"anonymous": {}}
        for role in CALLERS[1:-1]:
            extra = (
                {"cccd": "079299000777"}
                if role == "citizen"
                else {"venue": "gate-1"}
                if role == "desk"
                else {}
            )
            result[role] = bearer(client, make_account(shared_instance, role, **extra))
        service = make_account(shared_instance, "service")
        from identity.sessions import create_api_key

        with shared_instance.db.transaction() as session:
            key = create_api_key(
                session,
                shared_instance.ca.clock,
                service.username,
                "matrix",
                ["certificates:read"],
                actor="test",
            )
        result["service-key"] = {"Authorization": f"Bearer {key.key}"}
    return result


def allowed(caller: str, permission: Permission | frozenset[Permission]) -> bool:
    """Whether the caller holds the route's permission (any one of them, for ``require_any`` routes)."""
    return bool(granted(caller) & (permission if isinstance(permission, frozenset) else {permission}))


def granted(caller: str) -> frozenset[Permission]:
    if caller == "anonymous":
        return frozenset()
    if caller == "service-key":
        return frozenset({Permission.CERTIFICATES_READ})
    return ROLES[caller]


@pytest.mark.parametrize("caller", CALLERS)
def test_route_permission_matrix(
    app, headers: dict[str, dict[str, str]], shared_instance: Instance, caller: str
) -> None:
    before = shared_instance.counts()
    with TestClient(app, raise_server_exceptions=False) as client:
        # logout ends the caller's own session, so it goes last
        for method, path, permission in sorted(route_table(app), key=lambda r: r[1].endswith("/logout")):
            if permission is None:
                continue
            response = client.request(method, _concrete(path), headers=headers[caller], json={})
            if caller == "anonymous":
                assert response.status_code == 401, f"{method} {path}: {response.status_code}"
            elif not allowed(caller, permission):
                assert response.status_code == 403, (
                    f"{caller} {method} {path}: {response.status_code} {response.text}"
                )
            else:
                assert response.status_code not in (401, 403), f"{caller} {method} {path}: {response.text}"
            assert response.status_code < 500, f"{caller} {method} {path}: {response.text}"
    assert shared_instance.counts() == before
