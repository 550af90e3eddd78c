"""Production refuses a master key that does not carry 32 random bytes (issue 16, item 6): guessable keys
such as ``aaaa…`` or ``changeme`` repeated passed the old length check."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import pytest

from core.errors import ServiceError
from core.settings import Settings
from tests.conftest import VENV_BIN, run_tool

GUESSABLE = {
    "one letter": "a" * 64,
    "a word repeated": "changeme" * 8,
    "a phrase repeated": "Tr0ub4dor&3" * 6,
    "hex counting": "0123456789abcdef" * 4,
    "the alphabet": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "random but short": secrets.token_urlsafe(16),  # 16 bytes
    "hex of 16 bytes": secrets.token_hex(16),  # 32 characters, the old minimum, 16 bytes
    "the test suite's key": "test-master-key-" + "x" * 40,
    "words": "correct horse battery staple correct horse battery staple",
}
RANDOM = {
    "token_urlsafe(48) (README)": secrets.token_urlsafe(48),
    "token_urlsafe(32)": secrets.token_urlsafe(32),
    "openssl rand -hex 32": secrets.token_hex(32),
    "openssl rand -base64 32": base64.b64encode(os.urandom(32)).decode(),
}


@pytest.mark.parametrize("key", GUESSABLE.values(), ids=GUESSABLE.keys())
def test_production_refuses_a_guessable_master_key(key: str, tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, master_key=key)
    with pytest.raises(ServiceError, match="production mode needs KYSO_MASTER_KEY") as caught:
        settings.master_key_bytes()
    message = caught.value.message
    assert "32 random bytes" in message and "\n" not in message
    assert key not in message and key[:8] not in message  # the refusal never quotes the key


@pytest.mark.parametrize("key", RANDOM.values(), ids=RANDOM.keys())
def test_production_accepts_a_generated_key(key: str, tmp_path: Path) -> None:
    secret = tmp_path / "master_key"
    secret.write_text(key + "\n")
    assert Settings(env="production", master_key_file=secret).master_key_bytes() == key.encode()
    assert Settings(env="production", master_key=key).master_key_bytes() == key.encode()


def test_development_keeps_any_key(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, master_key="a" * 40).master_key_bytes() == b"a" * 40


def test_the_cli_refuses_a_guessable_key_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYSO_")}
    env.update(
        KYSO_ENV="production",
        KYSO_DATA_DIR=str(tmp_path / "var"),
        KYSO_BASE_URL="https://kyso.example.vn",
        KYSO_MASTER_KEY="changeme" * 8,
        COLUMNS="80",
    )

    def refused(*command: str) -> None:
        result = run_tool(VENV_BIN / "kyso", *command, check=False, env=env, cwd=tmp_path)
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: production mode needs KYSO_MASTER_KEY"), lines
        assert "Traceback" not in result.stderr

    refused("init")
    assert not (tmp_path / "var").exists(), "a refused key must leave nothing behind"
    # an instance made in development with that key: production refuses to serve it
    run_tool(VENV_BIN / "kyso", "init", env={**env, "KYSO_ENV": "development"}, cwd=tmp_path)
    refused("serve", "--port", "1")
    refused("ca", "list")
