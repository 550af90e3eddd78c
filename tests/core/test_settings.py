import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ServiceError
from core.settings import Settings


def test_production_refuses_a_missing_default_or_short_master_key(tmp_path: Path) -> None:
    for key in (None, "changeme", "short-key"):
        settings = Settings(env="production", data_dir=tmp_path, master_key=key)
        with pytest.raises(ServiceError, match="production mode needs KYSO_MASTER_KEY"):
            settings.master_key_bytes()


def test_production_accepts_a_long_random_key_from_a_secrets_file(tmp_path: Path) -> None:
    secret = tmp_path / "master_key"
    key = secrets.token_urlsafe(48)  # "k" * 48 passed before issue 16 (item 6): too guessable now
    secret.write_text(key + "\n")
    assert Settings(env="production", master_key_file=secret).master_key_bytes() == key.encode()


def test_development_creates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    with pytest.raises(ServiceError, match="run `kyso init`"):
        settings.master_key_bytes()
    first = settings.master_key_bytes(create=True)
    assert settings.master_key_bytes() == first
    mode = (tmp_path / "var" / "master.key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_settings_come_from_kyso_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KYSO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KYSO_BASE_URL", "https://kyso.example.vn/")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.base_url == "https://kyso.example.vn"
    assert settings.resolved_pki_base_url == "http://kyso.example.vn"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'kyso.db'}"


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValidationError, match="http"):
        Settings(base_url="ftp://x")
    with pytest.raises(ValidationError, match="plain http"):
        Settings(pki_base_url="https://pki.example.vn")
