"""The report as an ETSI TS 119 102-2 validation report (XML, namespace v1.4.1), made from a
``VerificationReport`` with the standard library.

pyHanko 0.38 has a TS 119 102-2 generator (``pyhanko.sign.validation.report.tools``, "incubating"), but it
reports pyHanko's own AdES validation results, which Kyso does not use (docs/verification.md), and it needs
the optional ``xsdata`` package; so the document is written here. The schema is ETSI's
``1910202xmlSchema.xsd``; the suite validates every report it makes against it
(tests/verification/schemas, tests/verification/test_etsi_report.py).

What goes where: one ``SignatureValidationReport`` per signature or document timestamp, its ETSI indication
and sub-indication as URIs; the validation policy (name and version) and each of its checks as a
``ValidationConstraint`` (the level and result as parameters); the signer's certificate and the trust anchor
the chain ended in as ``ValidationObject``s identified by their SHA-256; the trust profiles in force, the
reasons and the warnings as ``AdditionalValidationReportData``.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

from verification.report import Indication, SignatureReport, VerificationReport

VR = "http://uri.etsi.org/19102/v1.4.1#"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MAIN = {
    Indication.TOTAL_PASSED: "urn:etsi:019102:mainindication:total-passed",
    Indication.TOTAL_FAILED: "urn:etsi:019102:mainindication:total-failed",
    Indication.INDETERMINATE: "urn:etsi:019102:mainindication:indeterminate",
}
SUB = "urn:etsi:019102:subindication:"
CONSTRAINT_STATUS = {
    "passed": "urn:etsi:019102:mainindication:passed",
    "failed": "urn:etsi:019102:mainindication:failed",
    "warning": "urn:etsi:019102:mainindication:passed",  # met with a warning: the level and result say so
    "information": "urn:etsi:019102:mainindication:passed",
}
APPLIED = "urn:etsi:019102:constraintStatus:applied"
CERTIFICATE = "urn:etsi:019102:validationObject:certificate"
POE_VALIDATION = "urn:etsi:019102:poetype:validation"
KYSO = "urn:kyso:validation-report:"

ET.register_namespace("vr", VR)
ET.register_namespace("ds", DS)
ET.register_namespace("XAdES", XADES)


# characters XML 1.0 cannot hold at all (a PDF's field names and certificate names may carry them)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _el(parent: ET.Element, namespace: str, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{namespace}}}{tag}", attrs)
    if text is not None:
        element.text = _NOT_XML.sub("\ufffd", text)
    return element


def _vr(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    return _el(parent, VR, tag, text, **attrs)


def _digest(parent: ET.Element, tag: str, sha256_hex: str) -> None:
    holder = _vr(parent, tag)
    _el(holder, DS, "DigestMethod", Algorithm=SHA256)
    _el(holder, DS, "DigestValue", base64.b64encode(bytes.fromhex(sha256_hex)).decode())


def _data(parent: ET.Element, kind: str, value: str) -> None:
    item = _vr(parent, "ReportData")
    _vr(item, "Type", KYSO + kind)
    _vr(item, "Value", value)


def _certificate_id(sha256_hex: str) -> str:
    return f"C-{sha256_hex.upper()}"


def xml_report(report: VerificationReport) -> bytes:
    """The ETSI TS 119 102-2 validation report of ``report``, UTF-8 with an XML declaration."""
    root = ET.Element(f"{{{VR}}}ValidationReport")
    objects: dict[str, str] = {}  # id → SHA-256 of the certificate
    signatures: list[SignatureReport | None] = [*report.signatures] or [None]
    for number, signature in enumerate(signatures, start=1):
        _signature(root, report, number, signature, objects)
    if objects:
        listing = _vr(root, "SignatureValidationObjects")
        for identifier, sha256_hex in objects.items():
            item = _vr(listing, "ValidationObject", id=identifier)
            _vr(item, "ObjectType", CERTIFICATE)
            _digest(_vr(item, "ValidationObjectRepresentation"), "DigestAlgAndValue", sha256_hex)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _signature(
    root: ET.Element,
    report: VerificationReport,
    number: int,
    s: SignatureReport | None,
    objects: dict[str, str],
) -> None:
    element = _vr(root, "SignatureValidationReport")
    identifier = _vr(element, "SignatureIdentifier", id=f"S-{number}")
    _vr(identifier, "HashOnly", "false")
    _vr(identifier, "DocHashOnly", "false")
    if s is not None:
        _vr(identifier, "DAIdentifier", s.field)
    if s is not None and report.policy:
        _constraints(_vr(element, "ValidationConstraintsEvaluationReport"), report, s)
    times = _vr(element, "ValidationTimeInfo")
    _vr(times, "ValidationTime", report.validated_at)
    best = _vr(times, "BestSignatureTime")
    trusted_time = (
        s is not None
        and s.signing_time_source == "timestamp"
        and bool(s.signing_time)
        and (s.kind != "document-timestamp" or s.trusted)
    )
    _vr(best, "POETime", s.signing_time if trusted_time and s is not None else report.validated_at)
    _vr(best, "TypeOfProof", POE_VALIDATION)
    signer_id = None
    if s is not None and s.signer_certificate_sha256:
        signer_id = _certificate_id(s.signer_certificate_sha256)
        objects[signer_id] = s.signer_certificate_sha256
    if s is not None:
        attributes = []
        if s.signing_time and s.signing_time_source == "claimed":
            attributes.append(("SigningTime", "Time", s.signing_time))
        if s.timestamp is not None:
            tag = "DocTimeStamp" if s.kind == "document-timestamp" else "SignatureTimeStamp"
            attributes.append((tag, "TimeStampValue", s.timestamp.time))
        if attributes:
            holder = _vr(element, "SignatureAttributes")
            for tag, inner, value in attributes:
                attribute = _vr(holder, tag, **({"Signed": "true"} if tag == "SigningTime" else {}))
                _vr(attribute, inner, value)
    if signer_id is not None and s is not None:
        information = _vr(element, "SignerInformation")
        _vr(information, "SignerCertificate", VOReference=signer_id)
        if s.signer is not None:
            _vr(information, "Signer", s.signer.subject)
    process = _vr(element, "SignatureValidationProcess")
    _vr(process, "SignatureValidationProcessID", "urn:etsi:019102:validationprocess:" +
        ("LTVM" if trusted_time else "Basic"))  # fmt: skip
    _status(_vr(element, "SignatureValidationStatus"), report, s, signer_id, objects)


def _constraints(holder: ET.Element, report: VerificationReport, s: SignatureReport) -> None:
    policy = _vr(holder, "SignatureValidationPolicy")
    _el(_vr(policy, "SignaturePolicyIdentifier"), XADES, "SignaturePolicyImplied")
    _vr(policy, "PolicyName", f"{report.policy} v{report.policy_version}")
    prefix = (
        f"{KYSO}policy:{(report.policy or '').replace(' ', '-').replace('/', '-')}:v{report.policy_version}:"
    )
    for result in s.policy_results:
        constraint = _vr(holder, "ValidationConstraint")
        _vr(constraint, "ValidationConstraintIdentifier", prefix + result.id)
        for kind, value in (("level", result.level), ("result", result.result), ("detail", result.detail)):
            parameter = _vr(constraint, "ValidationConstraintParameter")
            _vr(parameter, "Type", f"{KYSO}constraint:{kind}")
            _vr(parameter, "Value", value)
        _vr(_vr(constraint, "ConstraintStatus"), "Status", APPLIED)
        _vr(_vr(constraint, "ValidationStatus"), "MainIndication", CONSTRAINT_STATUS[result.result])


def _status(
    holder: ET.Element,
    report: VerificationReport,
    s: SignatureReport | None,
    signer_id: str | None,
    objects: dict[str, str],
) -> None:
    if s is None:
        _vr(holder, "MainIndication", MAIN[Indication.TOTAL_FAILED])
        _vr(holder, "SubIndication", SUB + "FORMAT_FAILURE")
        _data(_vr(_vr(holder, "AssociatedValidationReportData"), "AdditionalValidationReportData"), "reason",
              "no signature found")  # fmt: skip
        return
    _vr(holder, "MainIndication", MAIN[s.indication])
    if s.sub_indication:
        _vr(holder, "SubIndication", SUB + s.sub_indication)
    data = _vr(holder, "AssociatedValidationReportData")
    anchor_id = None
    if s.trust_anchor is not None:
        anchor_id = _certificate_id(s.trust_anchor.sha256)
        objects[anchor_id] = s.trust_anchor.sha256
        _vr(data, "TrustAnchor", VOReference=anchor_id)
    if signer_id is not None:
        chain = _vr(data, "CertificateChain")
        _vr(chain, "SigningCertificate", VOReference=signer_id)
        if anchor_id is not None:
            _vr(chain, "TrustAnchor", VOReference=anchor_id)
        if s.revoked_at:
            revoked = _vr(data, "RevocationStatusInformation")
            _vr(revoked, "ValidationObjectId", VOReference=signer_id)
            _vr(revoked, "RevocationTime", s.revoked_at)
    extra = _vr(data, "AdditionalValidationReportData")
    _data(extra, "document-sha256", report.sha256)
    _data(extra, "trust-list", report.trust_list)
    for profile in report.trust_profiles:
        _data(extra, "trust-profile", profile)
    if s.trust_anchor is not None:
        _data(extra, "trust-anchor", s.trust_anchor.subject)
    for reason in s.reasons:
        _data(extra, "reason", reason)
    for warning in s.warnings:
        _data(extra, "warning", warning)
