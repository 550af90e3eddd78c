"""Schemathesis against our own OpenAPI document, in process, authenticated as an admin so the deep routes
are reached: no answer is a 5xx, and every answer's body matches the schema declared for its status.

Runs on SQLite and PostgreSQL. Bounded for `make test` (a few examples per operation); `make fuzz` runs it
with ``KYSO_SCHEMATHESIS_EXAMPLES`` (default there 100) for a long run (docs/security.md).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from tests.conftest import DATABASES, Instance, bearer, make_account, make_instance, new_database_url

EXAMPLES = int(os.environ.get("KYSO_SCHEMATHESIS_EXAMPLES", "4"))
# Logging out would end the admin's token for every later case; it is tested in tests/api.
SKIPPED = {("POST", "/api/v1/auth/logout")}


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, Instance, dict[str, str]]]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    tmp = tmp_path_factory.mktemp("schemathesis")
    instance = make_instance(tmp, new_database_url(request.param, tmp, request))
    app = create_app(instance.settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(instance, "admin"))
    yield app, instance, admin
    app.state.kyso.runtime.db.dispose()
    instance.db.dispose()


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIPPED:
            yield operation


def _property(operation, mode: GenerationMode, admin: dict[str, str], statuses: Counter[int]):
    # invalid input (negative mode): only "never a 5xx" is a property; valid input must match the schema too
    checks = [not_a_server_error, response_schema_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks = [not_a_server_error]

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        response = case.call_and_validate(headers=admin, checks=checks)
        statuses[response.status_code // 100] += 1

    return check


def test_no_server_errors_and_responses_match_the_schema(served) -> None:
    app, _, admin = served
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    operations = list(_operations(app))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _property(operation, mode, admin, statuses)()
            except (
                Unsatisfiable
            ):  # nothing about this operation can be made invalid (no parameters, free text)
                continue
            except Exception as exc:  # every broken operation is listed, not only the first
                failures.append(f"{operation.label} ({mode.value}): {str(exc).strip().splitlines()[0][:300]}")
    assert not failures, "\n".join(failures)
    assert len(operations) > 40 and statuses[2] > 20  # deep routes were reached, not only refused
