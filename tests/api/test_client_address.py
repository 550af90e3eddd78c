"""Which address a request came from (api.forwarded): a client cannot choose its own (issue 16, item 4).

Against a real `kyso serve` (the proxy handling used to be uvicorn's, which trusted any X-Forwarded-For from
127.0.0.1 by default and from anyone with FORWARDED_ALLOW_IPS="*"): only a peer in KYSO_TRUSTED_PROXIES may
name the client, the client is the right-most hop that peer vouches for, and whatever is not an IP address
never becomes one — not in the audit log, not in the per-client limits, not at the /metrics allow-list.
The whole 127.0.0.0/8 block is this machine, so the test's requests come from 127.0.0.1 (a client) and
127.0.0.2 (the one trusted proxy).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from api.forwarded import forwarded_client, trusted_networks
from core.settings import load_settings
from store.models import AuditEntry
from tests.conftest import Instance, make_instance, new_database_url, start_server, stop_server

PROXY = "127.0.0.2"
LOGIN_RATE = 6
SCRIPT = "<script>alert(1)</script>"
_names = itertools.count()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Instance, str]]:
    tmp = tmp_path_factory.mktemp("forwarded")
    instance = make_instance(tmp, new_database_url("sqlite", tmp, request))
    server = start_server(
        instance,
        env={"KYSO_TRUSTED_PROXIES": f"{PROXY}/32", "KYSO_LOGIN_RATE_PER_MINUTE": str(LOGIN_RATE)},
    )
    try:
        yield instance, server.url
    finally:
        stop_server(server)
        instance.db.dispose()


def from_address(url: str, local: str) -> httpx.Client:
    """A client whose connections leave from ``local`` (any 127.x address reaches the server)."""
    return httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=local), timeout=60)


def failed_login(client: httpx.Client, username: str, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {}
    data = {"username": username, "password": "not the password"}
    return client.post("/api/v1/auth/token", data=data, headers=headers).status_code


def login_sources(instance: Instance, username: str) -> list[str | None]:
    with instance.db.reading() as session:
        return list(
            session.scalars(
                select(AuditEntry.source)
                .where(AuditEntry.action == "login", AuditEntry.actor == username)
                .order_by(AuditEntry.seq)
            )
        )


def test_an_untrusted_peer_cannot_choose_its_address_for_the_audit_or_the_limit(served) -> None:
    instance, url = served
    username = f"nobody{next(_names)}"
    forged = [SCRIPT, "203.0.113.7", *(f"198.51.100.{n}" for n in range(1, 2 * LOGIN_RATE))]

    with from_address(url, "127.0.0.1") as client:
        statuses = [failed_login(client, username, value) for value in forged]

    assert 429 in statuses, "a new X-Forwarded-For each time must not buy a new allowance"
    assert statuses.index(429) <= LOGIN_RATE, statuses
    sources = login_sources(instance, username)
    assert sources and set(sources) == {"127.0.0.1"}, sources


def test_behind_the_trusted_proxy_the_hop_it_added_is_the_client(served) -> None:
    instance, url = served
    cases = {
        "198.51.100.1, 203.0.113.8": "203.0.113.8",  # the client's own claim, then what the proxy saw
        "2001:db8::1": "2001:db8::1",
        SCRIPT: PROXY,  # not an address: the peer's own
        f"203.0.113.9, {SCRIPT}": PROXY,
        "fe80::1%<b>x</b>": PROXY,  # a scope id is free text
        "203.0.113.10:4711": PROXY,
        "": PROXY,
    }
    sources = []
    with from_address(url, PROXY) as client:
        for forwarded, _ in cases.items():
            username = f"nobody{next(_names)}"
            assert failed_login(client, username, forwarded) == 401
            sources.append(login_sources(instance, username))
    assert sources == [[expected] for expected in cases.values()]


def test_behind_the_trusted_proxy_the_limit_counts_each_real_client(served) -> None:
    _, url = served
    username = f"nobody{next(_names)}"
    with from_address(url, PROXY) as client:
        first = [failed_login(client, username, f"{SCRIPT}, 203.0.113.20") for _ in range(LOGIN_RATE + 1)]
        other = failed_login(client, username, "203.0.113.20, 203.0.113.21")
    assert first[-1] == 429 and 429 not in first[:-1], first
    assert other == 401, "another client behind the same proxy has its own allowance"


def test_metrics_refuse_an_outside_client_that_claims_a_local_address(served) -> None:
    _, url = served
    with from_address(url, PROXY) as proxy:
        assert proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.5"}).status_code == 403
        assert proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.9"}).status_code == 200


# -- the rule itself ----------------------------------------------------------------------------------------
TRUSTED = trusted_networks("10.0.0.2, 10.0.1.0/24, fd00::/64")


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("192.0.2.1", "203.0.113.1", "192.0.2.1"),  # an untrusted peer's header is ignored
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "203.0.113.1", "203.0.113.1"),
        ("::ffff:10.0.0.2", "203.0.113.1", "203.0.113.1"),  # a dual-stack socket's form of the proxy
        ("10.0.0.2", "198.51.100.1, 203.0.113.1, 10.0.1.7", "203.0.113.1"),  # right-most untrusted
        ("10.0.0.2", "10.0.1.8, 10.0.1.7", "10.0.1.8"),  # every hop a proxy: the furthest one
        ("10.0.0.2", "  203.0.113.1 ", "203.0.113.1"),
        ("10.0.0.2", "::FFFF:203.0.113.1", "203.0.113.1"),
        ("10.0.0.2", "2001:DB8:0:0::1", "2001:db8::1"),  # stored in the canonical form
        ("10.0.0.2", "unknown", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.1, 10.0.1.7, nonsense", "10.0.0.2"),
        ("10.0.0.2", "2130706433", "10.0.0.2"),
        ("10.0.0.2", "[2001:db8::1]", "10.0.0.2"),
        ("10.0.0.2", "a" * 5000, "10.0.0.2"),
        ("fd00::1", "203.0.113.1", "203.0.113.1"),
        ("testclient", "203.0.113.1", "testclient"),  # not an address, so not a trusted proxy
        (None, "203.0.113.1", None),
    ],
)
def test_the_client_is_the_right_most_hop_a_trusted_proxy_vouches_for(
    peer: str | None, header: str | None, client: str | None
) -> None:
    assert forwarded_client(peer, header, TRUSTED) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert forwarded_client("127.0.0.1", "203.0.113.1", trusted_networks("")) == "127.0.0.1"
    assert load_settings(database_url="sqlite://").trusted_proxies == ""


def test_what_a_proxy_names_is_always_a_plain_address() -> None:
    hops = [SCRIPT, "fe80::1%eth0", "1.2.3.4\r\nX: y", "1.2.3.4/32", "0x7f.1", "999.1.1.1", "::1%1"]
    for hop in hops:
        found = forwarded_client("10.0.0.2", hop, TRUSTED)
        assert found == "10.0.0.2", hop
    for hop in ["203.0.113.1", "2001:db8::7", "::ffff:198.51.100.3"]:
        found = forwarded_client("10.0.0.2", hop, TRUSTED)
        assert found is not None and str(ipaddress.ip_address(found)) == found


@pytest.mark.parametrize("value", ["*", "10.0.0.2, *", "kyso-lb", "10.0.0.0/33"])
def test_a_wildcard_or_a_name_is_not_a_trusted_proxy_list(value: str) -> None:
    with pytest.raises(ValueError, match="KYSO_TRUSTED_PROXIES"):
        load_settings(database_url="sqlite://", trusted_proxies=value)
