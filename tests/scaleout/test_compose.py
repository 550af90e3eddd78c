"""docker-compose.yml runs several stateless API containers against one PostgreSQL behind a load balancer
(docker compose itself is not installed here: the file is read as YAML and checked for what it promises)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_api_runs_as_replicas_after_one_migration_behind_the_load_balancer() -> None:
    services = compose()["services"]
    api, init, lb = services["kyso"], services["init"], services["lb"]
    assert re.fullmatch(r"\$\{KYSO_REPLICAS:-([2-9]|\d\d+)\}", str(api["deploy"]["replicas"]))
    assert api["command"][:2] == ["kyso", "serve"] and "--workers" in api["command"]
    assert "ports" not in api, "replicas cannot share a published port; lb publishes it"
    assert api["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert init["command"] == ["init"] and init["restart"] == "no"
    assert lb["ports"] == ["8000:8000"]
    [config] = [v.split(":")[0] for v in lb["volumes"] if v.endswith("/etc/nginx/conf.d/default.conf:ro")]
    nginx = (ROOT / config).read_text()
    assert "server kyso:8000 resolve;" in nginx and "resolver 127.0.0.11" in nginx
    assert "non_idempotent" not in nginx, "a POST that reached one replica must not be sent to another"


def test_every_kyso_container_reaches_the_same_database_with_the_same_secrets() -> None:
    services = compose()["services"]
    api, init = services["kyso"], services["init"]
    shared = {k: v for k, v in api["environment"].items() if k.startswith("KYSO_")}
    assert shared == init["environment"]
    assert shared["KYSO_DB_HOST"] == "db" and shared["KYSO_MASTER_KEY_FILE"].startswith("/run/secrets/")
    assert api["secrets"] == init["secrets"] == ["kyso_master_key", "db_password"]
    assert api["environment"]["FORWARDED_ALLOW_IPS"] == "*", "the per-client limits see the real client"


def test_postgresql_accepts_every_connection_the_default_replicas_may_open() -> None:
    services = compose()["services"]
    replicas = int(re.search(r":-(\d+)", services["kyso"]["deploy"]["replicas"]).group(1))
    workers = int(re.search(r":-(\d+)", services["kyso"]["command"][-1]).group(1))
    command = " ".join(services["db"]["command"])
    max_connections = int(re.search(r"max_connections=(\d+)", command).group(1))
    assert replicas * workers * 31 + 20 <= max_connections  # 20 for the CLI and an administrator
