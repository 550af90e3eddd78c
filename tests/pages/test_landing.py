"""The front door and the API documentation in headless Chromium: `/` on a 360-px phone and a desk PC (four
links, each reachable, nothing wider than the screen, no console or CSP error), `/docs` rendering its
operations with every request to another host refused (it must work on a LAN with no internet), and the
page addresses `kyso serve` prints as it starts."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from api.security_headers import CONTENT_SECURITY_POLICY
from cli.serve_cmd import startup_message
from tests.support.browser import DESK_PC, PHONE, inline_scripts

pytestmark = pytest.mark.browser
DOORS = ["/verify", "/portal", "/desk", "/docs"]


def _watch(page) -> list[str]:
    """Console errors (a CSP violation is one) and uncaught exceptions, as they happen."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return problems


def _local_only(page, base_url: str) -> list[str]:
    """Let through requests to the test server only; record (and abort) any other."""
    own = urlsplit(base_url).netloc
    foreign: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == own:
            r.continue_()
        else:
            foreign.append(url)
            r.abort()

    page.route("**/*", route)
    return foreign


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_the_landing_page_has_four_doors(site, browser, device: str) -> None:
    viewport = PHONE if device == "phone" else DESK_PC
    if device == "phone":
        context = browser.new_context(
            viewport=viewport, device_scale_factor=2, is_mobile=True, has_touch=True
        )
    else:
        context = browser.new_context(viewport=viewport)
    try:
        page = context.new_page()
        problems = _watch(page)
        foreign = _local_only(page, site.url)
        response = page.goto(site.url + "/?lang=vi")
        assert response.status == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert inline_scripts(page.content()) == []
        # Vietnamese first, English on the smaller second line
        heading = page.locator("h1")
        assert heading.inner_text().splitlines()[0] == "Chữ ký số và xác thực điện tử"
        assert heading.locator(".alt").inner_text() == "Digital signatures and e-authentication"
        assert heading.locator(".alt").get_attribute("lang") == "en"
        links = page.locator("a.door-link")
        assert [links.nth(i).get_attribute("href") for i in range(links.count())] == DOORS
        first = page.locator("#door-verify")
        assert "Kiểm tra văn bản đã ký" in first.locator(".door-title").inner_text()
        assert "Check a signed document" in first.inner_text()
        # the brand in the bar leads home
        assert page.locator("a.brand").get_attribute("href") == "/"
        # nothing wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.screenshot(path=site.shots / f"landing-{device}.png", full_page=True)

        # a click anywhere on a card follows its link
        with page.expect_navigation():
            page.locator("#door-verify .door-text").click(force=True)  # lands on the link's overlay
        assert urlsplit(page.url).path == "/verify"
        assert page.locator("h1").inner_text() == "Kiểm tra chữ ký số"
        page.go_back()
        assert problems == []
        assert foreign == []
    finally:
        context.close()


def test_every_door_opens(site) -> None:
    """Public doors answer 200; the signed-in ones show the login form (401) to a stranger and open (200)
    for an account that may use them."""
    for path in ("/verify", "/docs"):
        assert site.api.get(path).status_code == 200, path
    for path, auth in (("/portal", site.official_auth), ("/desk", site.guard_auth)):
        stranger = site.api.get(path)
        assert stranger.status_code == 401, path
        assert 'id="login-form"' in stranger.text
        assert site.api.get(path, headers=auth).status_code == 200, path
    english = site.api.get("/?lang=en")
    assert english.status_code == 200
    assert "<h1>Digital signatures and e-authentication" in english.text
    assert 'class="alt" lang="vi">Chữ ký số và xác thực điện tử' in english.text


def test_the_api_docs_work_without_internet(site, desk_pc) -> None:
    page = desk_pc.new_page()
    problems = _watch(page)
    foreign = _local_only(page, site.url)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    response = page.goto(site.url + "/docs")
    assert response.status == 200
    # the same strict policy as every page: no CDN, no inline bootstrap
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert inline_scripts(page.content()) == []
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert page.locator(".opblock").count() > 20
    assert page.locator(".opblock-summary-path", has_text="/api/v1/verify").count() >= 1
    # an operation opens (the page is alive, not just drawn)…
    page.locator(".opblock-summary", has_text="/healthz").first.click()
    page.locator(".opblock.is-open").first.wait_for()
    # and "Try it out" calls the API from the page (same origin: the CSP's connect-src allows it)
    opened = page.locator(".opblock.is-open").first
    opened.locator("button.try-out__btn").click()
    opened.locator("button.execute").click()
    opened.locator(".live-responses-table .response-col_status", has_text="200").wait_for()
    page.screenshot(path=site.shots / "api-docs-desktop.png")
    assert foreign == []
    assert {urlsplit(u).path for u in asked} >= {"/docs", "/static/swagger-ui-bundle.js", "/openapi.json"}
    assert problems == []
    assert site.api.get("/redoc").status_code == 404  # not offered (it would need another vendored bundle)


def test_serve_prints_the_page_addresses(site) -> None:
    """The live server of the page tests was started with KYSO_BASE_URL=http://127.0.0.1:8000 on another
    port: it says where it listens and gives the pages under the public address."""
    port = urlsplit(site.url).port
    log = site.server.log.read_text()
    assert f"Kyso is running: http://127.0.0.1:{port}/" in log
    assert "public address (KYSO_BASE_URL): http://127.0.0.1:8000/" in log
    for path in DOORS:
        assert f"http://127.0.0.1:8000{path} " in log


def test_the_startup_message() -> None:
    plain = startup_message("127.0.0.1", 8000).splitlines()
    assert plain[0] == "Kyso is running: http://127.0.0.1:8000/"
    assert [line.split()[0] for line in plain[1:]] == [f"http://127.0.0.1:8000{p}" for p in DOORS]
    public = startup_message("0.0.0.0", 8443, "https://kyso.hochiminhcity.gov.vn/")
    assert public.splitlines()[0] == "Kyso is running: http://127.0.0.1:8443/ (listening on all addresses)"
    assert "https://kyso.hochiminhcity.gov.vn/verify " in public
    assert startup_message("::1", 9000).startswith("Kyso is running: http://[::1]:9000/")
