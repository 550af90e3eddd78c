"""`kyso serve` with no KYSO_BASE_URL: the links the service writes name the port it really serves on."""

from __future__ import annotations

import pytest
import uvicorn
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings, load_settings
from tests.conftest import Instance


def _serve(
    instance: Instance, monkeypatch: pytest.MonkeyPatch, base_url: str | None, *args: str
) -> tuple[str, Settings]:
    """Run `kyso serve` in process with uvicorn replaced: its output and the settings its app would load."""
    for name, value in instance.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KYSO_BASE_URL")
    if base_url is not None:
        monkeypatch.setenv("KYSO_BASE_URL", base_url)
    seen: list[Settings] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.append(load_settings()))
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return result.output, seen[0]


def test_links_name_the_port_served_on_when_no_base_url_is_set(
    shared_instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, served = _serve(shared_instance, monkeypatch, None, "--port", "9123")
    assert served.base_url == "http://127.0.0.1:9123"
    assert served.resolved_pki_base_url == "http://127.0.0.1:9123"
    assert "Kyso is running: http://127.0.0.1:9123/" in output and "public address" not in output


def test_a_base_url_that_is_set_is_kept(shared_instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    output, served = _serve(
        shared_instance, monkeypatch, "https://kyso.hochiminhcity.gov.vn", "--port", "9124"
    )
    assert served.base_url == "https://kyso.hochiminhcity.gov.vn"
    assert "https://kyso.hochiminhcity.gov.vn/verify " in output
