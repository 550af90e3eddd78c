"""docker-compose.yml runs several stateless API containers against one PostgreSQL behind a load balancer
(docker compose itself is not installed here: the file is read as YAML and checked for what it promises)."""

from __future__ import annotations

import ipaddress
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
    shared = {k: v for k, v in api["environment"].items() if k.startswith("KYSO_") and k != "KYSO_WORKER"}
    assert shared == init["environment"] == services["worker"]["environment"]
    assert shared["KYSO_DB_HOST"] == "db" and shared["KYSO_MASTER_KEY_FILE"].startswith("/run/secrets/")
    assert (
        api["secrets"]
        == init["secrets"]
        == services["worker"]["secrets"]
        == ["kyso_master_key", "db_password"]
    )


def test_the_background_jobs_run_in_the_worker_container_not_in_the_api_replicas() -> None:
    services = compose()["services"]
    assert services["kyso"]["environment"]["KYSO_WORKER"] == "external"
    worker = services["worker"]
    assert worker["command"] == ["kyso", "worker"] and "deploy" not in worker and "ports" not in worker
    assert worker["depends_on"]["init"]["condition"] == "service_completed_successfully"


def nginx_directives() -> list[list[str]]:
    """docker/nginx.conf's directives (comments dropped), each as its words."""
    text = "\n".join(
        line.split("#", 1)[0] for line in (ROOT / "docker" / "nginx.conf").read_text().splitlines()
    )
    return [statement.split() for statement in re.split(r"[;{}]", text) if statement.strip()]


def test_only_the_load_balancer_may_name_the_client_and_it_names_the_peer_it_saw() -> None:
    services = compose()["services"]
    api, lb = services["kyso"], services["lb"]
    assert "FORWARDED_ALLOW_IPS" not in api["environment"], "kyso serve decides this itself"
    assert "*" not in str(api["environment"].get("KYSO_TRUSTED_PROXIES", "*"))
    lb_address = ipaddress.ip_address(lb["networks"]["default"]["ipv4_address"])
    assert [ipaddress.ip_network(p) for p in api["environment"]["KYSO_TRUSTED_PROXIES"].split(",")] == [
        ipaddress.ip_network(lb_address)
    ], "the load balancer's own address, not the network every container (and the host's gateway) is on"
    [pool] = compose()["networks"]["default"]["ipam"]["config"]
    assert lb_address in ipaddress.ip_network(pool["subnet"])
    assert lb_address not in ipaddress.ip_network(pool["ip_range"]), "no other container may be given it"
    assert lb_address != next(ipaddress.ip_network(pool["subnet"]).hosts()), "the gateway is the host"
    forwarded = [d for d in nginx_directives() if d[:2] == ["proxy_set_header", "X-Forwarded-For"]]
    assert forwarded == [["proxy_set_header", "X-Forwarded-For", "$remote_addr"]], (
        "replace the client's X-Forwarded-For with the address nginx saw; appending keeps the client's claim"
    )
    for directive in nginx_directives():
        assert "$proxy_add_x_forwarded_for" not in directive and "$http_x_forwarded_for" not in directive
        if directive[0] == "set_real_ip_from":
            assert ipaddress.ip_network(directive[1]).prefixlen > 0, "trust named proxies, not everyone"


def test_postgresql_accepts_every_connection_the_default_replicas_may_open() -> None:
    services = compose()["services"]
    replicas = int(re.search(r":-(\d+)", services["kyso"]["deploy"]["replicas"]).group(1))
    workers = int(re.search(r":-(\d+)", services["kyso"]["command"][-1]).group(1))
    command = " ".join(services["db"]["command"])
    max_connections = int(re.search(r"max_connections=(\d+)", command).group(1))
    # 20 for the CLI and an administrator, 31 for the worker container (its pool and a lock per job)
    assert replicas * workers * 31 + 31 + 20 <= max_connections
