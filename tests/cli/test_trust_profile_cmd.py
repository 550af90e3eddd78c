"""`kyso trust profile list|enable|disable` and `kyso verify --format xml`, as an operator runs them."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from signing.pades import Level
from tests.conftest import kyso, make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, sign_bytes, signing_service

NEAC = "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7"
VR = "http://uri.etsi.org/19102/v1.4.1#"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust-cli")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    data, _ = sign_bytes(signing_service(instance), issue_in_custody(instance, "official"), sample_pdf(1),
                         level=Level.B_LT)  # fmt: skip
    signed = tmp / "signed.pdf"
    signed.write_bytes(data)
    yield instance, signed
    instance.db.dispose()


def test_profiles_are_listed_switched_and_refused_when_unknown(world) -> None:
    instance, _ = world
    listing = kyso(instance, "trust", "profile", "list")
    assert listing.returncode == 0, listing.stderr
    assert "[on ] kyso-test" in listing.stdout and "[off] vn-public" in listing.stdout
    assert NEAC in listing.stdout and "Vietnam National Root CA" in listing.stdout
    enabled = kyso(instance, "trust", "profile", "enable", "vn-public")
    assert enabled.returncode == 0 and "vn-public: on (2 certificates)" in enabled.stdout
    states = {p["name"]: p for p in json.loads(kyso(instance, "trust", "profile", "list", "--json").stdout)}
    assert states["vn-public"]["enabled"] and states["vn-public"]["changed_by"].startswith("cli:")
    assert [a["role"] for a in states["vn-public"]["anchors"]] == ["anchor", "intermediate"]
    assert kyso(instance, "trust", "profile", "disable", "vn-public").returncode == 0
    unknown = kyso(instance, "trust", "profile", "enable", "eu-lotl")
    assert unknown.returncode == 3 and unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
    assert "vn-public" in unknown.stderr


def test_verify_prints_the_etsi_xml_report(world) -> None:
    instance, signed = world
    result = kyso(instance, "verify", signed, "--format", "xml")
    assert result.returncode == 0, result.stderr
    document = etree.fromstring(result.stdout.encode())
    assert document.tag == f"{{{VR}}}ValidationReport"
    main = document.findtext(f".//{{{VR}}}SignatureValidationStatus/{{{VR}}}MainIndication")
    assert main == "urn:etsi:019102:mainindication:total-passed"
    text = kyso(instance, "verify", signed)
    assert "Trust profiles: kyso-test, operator" in text.stdout and "Kyso TT15/2025 v1" in text.stdout
    assert "Gốc tin cậy / Trust anchor" in text.stdout
    wrong = kyso(instance, "verify", signed, "--format", "yaml")
    assert wrong.returncode == 2 and "text, json or xml" in wrong.stderr
