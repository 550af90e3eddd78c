"""The console's trust part in headless Chromium: a CA operator switches a trust profile off and on and
adds a root (a DER file) then removes it, each through /api/v1/verify/trust-* (services.verification),
so the API then lists the same; an admin sees the page without the buttons."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import make_account
from tests.pages.test_console import DESKTOP, PHONE, bearer, open_console
from tests.support.cluster import poll

pytestmark = pytest.mark.browser


@pytest.fixture
def desktop(browser):
    context = browser.new_context(viewport=DESKTOP)
    yield context
    context.close()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    yield context
    context.close()


def a_root(common_name: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def profiles(site) -> dict[str, bool]:
    listed = site.api.get("/api/v1/verify/trust-profiles", headers=site.admin).json()
    return {p["name"]: p["enabled"] for p in listed}


def test_an_operator_changes_what_verification_trusts(site, desktop, phone, tmp_path) -> None:
    page, _ = open_console(desktop, site, path="/console/trust")
    before = profiles(site)
    name = sorted(before)[0]
    switch = page.locator(f"[data-profile='{name}'] button.trust-switch")
    try:
        switch.click()
        page.locator("#flash", has_text="Đã lưu thay đổi tin cậy").wait_for()
        assert profiles(site)[name] is not before[name]
        page.locator(f"[data-profile='{name}'] button.trust-switch").click()
        # the first change's notice says the same words: wait for the second change itself
        poll(
            lambda: profiles(site)[name] is before[name], 30, f"{name} was not switched back from the console"
        )
    finally:
        operator = bearer(site.api, make_account(site.instance, "ca-operator"))
        restored = site.api.put(f"/api/v1/verify/trust-profiles/{name}", json={"enabled": before[name]},
                                headers=operator)  # fmt: skip
        assert restored.status_code == 200, restored.text

    root = a_root("Root CA Sở Thông tin và Truyền thông thử nghiệm")
    der = tmp_path / "root.cer"
    der.write_bytes(root.public_bytes(serialization.Encoding.DER))
    fingerprint = root.fingerprint(hashes.SHA256()).hex()
    page.fill("#anchor-label", "stttt-thu-nghiem")
    page.set_input_files("#anchor-file", str(der))
    page.click("#anchor-form button[type=submit]")
    row = page.locator(f"tr[data-fingerprint='{fingerprint}']")
    row.wait_for()
    assert "stttt-thu-nghiem" in row.inner_text() and "Sở Thông tin" in row.inner_text()
    listed = site.api.get("/api/v1/verify/trust-anchors", headers=site.admin).json()
    assert fingerprint in [a["fingerprint"] for a in listed["added"]]
    page.screenshot(path=site.shots / "console-trust.png", full_page=True)

    # a file that is no certificate: the API's words, nothing added
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    page.fill("#anchor-label", "hong")
    page.set_input_files("#anchor-file", str(junk))
    page.click("#anchor-form button[type=submit]")
    assert "Không thực hiện được" in page.locator("#flash.failed").inner_text()

    row.locator("button.anchor-remove").click()
    page.locator("#no-added").wait_for()
    listed = site.api.get("/api/v1/verify/trust-anchors", headers=site.admin).json()
    assert fingerprint not in [a["fingerprint"] for a in listed["added"]]

    admin, _ = open_console(phone, site, role="admin", path="/console/trust")
    assert admin.locator("[data-profile]").count() == len(before)
    assert admin.locator("button.trust-switch, #anchor-form").count() == 0
    assert admin.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
