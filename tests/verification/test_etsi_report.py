"""The ETSI TS 119 102-2 XML validation report validates against ETSI's schema (1910202xmlSchema.xsd and its
imports, committed under tests/verification/schemas with their origin) for passed, failed, legacy and empty
reports, and says what the JSON report says: indication, anchor, policy checks, trust profiles."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path

import pytest
from lxml import etree

from signing.pades import Level
from tests.conftest import make_instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, root_pem, sign_bytes, signing_service
from verification.etsi_report import xml_report
from verification.report import VerificationReport
from verification.trust import TrustStore, certificates_from_pem
from verification.validate import Verifier

SCHEMAS = Path(__file__).parent / "schemas"
LOCAL = {
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
    "http://uri.etsi.org/01903/v1.3.2/XAdES.xsd": "XAdES.xsd",
    "http://uri.etsi.org/19612/v2.2.1/ts_119612v020201_201601xsd.xsd": "ts_119612v020101_xsd.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
}
NS = {"vr": "http://uri.etsi.org/19102/v1.4.1#", "ds": "http://www.w3.org/2000/09/xmldsig#"}


class _Offline(etree.Resolver):
    """The schema's imports name their web addresses; the suite reads the committed copies, never the net."""

    def resolve(self, url, pubid, context):
        if url in LOCAL:
            return self.resolve_filename(str(SCHEMAS / LOCAL[url]), context)
        if url.startswith(("http:", "https:")):
            raise AssertionError(f"the schema asked for {url}")
        return None


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_Offline())
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "1910202xmlSchema.xsd"), parser))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("etsi")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    service = signing_service(instance)
    serial = issue_in_custody(instance, "official")
    [root_der] = certificates_from_pem(root_pem(instance))[-1:]
    trust = TrustStore.from_der("Kyso", [root_der], profiles=["kyso-test", "operator"],
                                origins=[(hashlib.sha256(root_der).hexdigest(), "kyso-test")])  # fmt: skip
    signed = {
        level: sign_bytes(service, serial, sample_pdf(1), level=level)[0] for level in (Level.B_B, Level.B_LT)
    }
    twice = sign_bytes(service, serial, signed[Level.B_LT], level=Level.B_LT)[0]
    yield trust, signed, twice, hashlib.sha256(root_der).hexdigest()
    instance.db.dispose()


def check(trust: TrustStore, data: bytes) -> VerificationReport:
    return asyncio.run(Verifier(trust).verify(data))


def parsed(schema: etree.XMLSchema, report: VerificationReport) -> etree._Element:
    document = etree.fromstring(xml_report(report))
    assert schema.validate(document), schema.error_log
    assert dangling_references(document) == set()
    return document


def dangling_references(document: etree._Element) -> set[str]:
    """VOReference is xs:IDREFS, which libxml2's schema validation does not resolve: checked here."""
    ids = {e.get("id") for e in document.iter() if e.get("id")}
    return {ref for e in document.iter() for ref in (e.get("VOReference") or "").split()} - ids


def texts(document: etree._Element, path: str) -> list[str]:
    return [e.text for e in document.iterfind(path, NS)]


def test_a_passed_b_lt_report_is_valid_and_names_anchor_policy_and_profiles(schema, world) -> None:
    trust, signed, _, root_sha = world
    report = check(trust, signed[Level.B_LT])
    document = parsed(schema, report)
    status = "vr:SignatureValidationReport/vr:SignatureValidationStatus/"
    assert texts(document, status + "vr:MainIndication") == ["urn:etsi:019102:mainindication:total-passed"]
    [anchor] = document.iterfind(status + "vr:AssociatedValidationReportData/vr:TrustAnchor", NS)
    anchor_id = anchor.get("VOReference")
    [digest] = texts(
        document, f"vr:SignatureValidationObjects/vr:ValidationObject[@id='{anchor_id}']//ds:DigestValue"
    )
    assert base64.b64decode(digest).hex() == root_sha == report.signatures[0].trust_anchor.sha256
    data = status + "vr:AssociatedValidationReportData/vr:AdditionalValidationReportData/vr:ReportData"
    pairs = [
        (d.findtext("vr:Type", None, NS), d.findtext("vr:Value", None, NS))
        for d in document.iterfind(data, NS)
    ]
    assert [v for t, v in pairs if t.endswith(":trust-profile")] == ["kyso-test", "operator"]
    evaluation = "vr:SignatureValidationReport/vr:ValidationConstraintsEvaluationReport/"
    assert texts(document, evaluation + "vr:SignatureValidationPolicy/vr:PolicyName") == ["Kyso TT15/2025 v1"]
    constraints = texts(document, evaluation + "vr:ValidationConstraint/vr:ValidationConstraintIdentifier")
    assert len(constraints) == len(report.signatures[0].policy_results) == 6
    assert texts(document, "vr:SignatureValidationReport/vr:SignatureValidationProcess/"
                           "vr:SignatureValidationProcessID") == ["urn:etsi:019102:validationprocess:LTVM"]  # fmt: skip


def test_undecided_changed_two_signatures_and_empty_reports_are_valid(schema, world) -> None:
    trust, signed, twice, _ = world
    undecided = parsed(schema, check(trust, signed[Level.B_B]))
    assert texts(undecided, ".//vr:SignatureValidationStatus/vr:SubIndication") == [
        "urn:etsi:019102:subindication:TRY_LATER"
    ]
    flipped = bytearray(signed[Level.B_LT])
    flipped[len(flipped) // 3] ^= 0x01
    changed = check(trust, bytes(flipped))
    assert texts(parsed(schema, changed), ".//vr:SignatureValidationStatus/vr:MainIndication") == [
        "urn:etsi:019102:mainindication:" + changed.signatures[0].indication.value.lower()
    ]
    both = parsed(schema, check(trust, twice))  # the same signer twice: its certificate is one object
    assert len(both.findall("vr:SignatureValidationReport", NS)) == 2
    ids = [o.get("id") for o in both.iterfind("vr:SignatureValidationObjects/vr:ValidationObject", NS)]
    assert len(ids) == len(set(ids)) == 2  # the signer's certificate and the anchor
    nothing = check(trust, sample_pdf(1))
    assert texts(parsed(schema, nothing), ".//vr:SignatureValidationStatus/vr:MainIndication") == [
        "urn:etsi:019102:mainindication:total-failed"
    ]


def test_the_schema_check_can_fail(schema, world) -> None:
    trust, signed, _, _ = world
    document = etree.fromstring(xml_report(check(trust, signed[Level.B_LT])))
    [status] = document.iterfind("vr:SignatureValidationReport/vr:SignatureValidationStatus", NS)
    status.getparent().remove(status)  # a required element
    assert not schema.validate(document)
    dangling = etree.fromstring(xml_report(check(trust, signed[Level.B_LT])))
    [objects] = dangling.iterfind("vr:SignatureValidationObjects", NS)
    dangling.remove(objects)  # references to objects that are not there
    assert len(dangling_references(dangling)) == 2


def test_real_world_corpus_reports_are_schema_valid(schema) -> None:
    """Every fourth file of the real-world corpus (EU DSS, pyHanko; tests/verification/corpus/SOURCES.md):
    whatever the verdict, the XML report is valid and its references resolve. All 121 DSS files were
    checked once this way (114 reports valid, 7 files refused as damaged before any report)."""
    from core.errors import ServiceError
    from tests.verification.test_real_world_corpus import EXPECTED, corpus_dir
    from verification import profiles

    names = [n for n in sorted(EXPECTED) if (corpus_dir() / n).is_file()][::4]
    if not names:
        pytest.skip(f"the corpus files are not on this machine ({corpus_dir()}; see corpus/SOURCES.md)")
    roots = [b.certificate.dump() for b in profiles.bundled(profiles.VN_PUBLIC) if not b.intermediate]
    verifier = Verifier(TrustStore.from_der("vn-public", roots, profiles=["vn-public"]))
    reported = 0
    for name in names:
        try:
            report = asyncio.run(verifier.verify((corpus_dir() / name).read_bytes()))
        except ServiceError:
            continue  # a damaged file is refused before there is a report
        parsed(schema, report)
        reported += 1
    assert reported >= len(names) // 2


def test_characters_xml_cannot_hold_are_replaced(schema, world) -> None:
    """A field name is whatever bytes the PDF holds; XML 1.0 cannot carry control characters at all."""
    from dataclasses import replace

    trust, signed, _, _ = world
    report = check(trust, signed[Level.B_LT])
    odd = replace(report, signatures=[replace(report.signatures[0], field="Sig\x01na\x00ture\x1f")])
    document = parsed(schema, odd)
    assert texts(document, "vr:SignatureValidationReport/vr:SignatureIdentifier/vr:DAIdentifier") == [
        "Sig\ufffdna\ufffdture\ufffd"
    ]
