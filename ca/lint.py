"""pkilint, in process: every to-be-signed certificate is linted before the real key ever touches it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pkilint import etsi, finding_filter, loader
from pkilint.etsi import etsi_constants
from pkilint.pkix import certificate, extension, name
from pkilint.validation import ValidationFindingSeverity

BLOCKING = frozenset({"ERROR", "FATAL"})
# Certificates of a development instance point at http://127.0.0.1:…, which ETSI rules call an internal
# name. Only there, and only in development mode, is that one finding reported as a warning.
LOOPBACK_TOLERATED = frozenset({"etsi.internal_domain_name"})


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str | None
    node: str

    def as_dict(self) -> dict[str, str | None]:
        return {"severity": self.severity, "code": self.code, "message": self.message, "node": self.node}

    def __str__(self) -> str:
        text = f"{self.severity} {self.code} at {self.node}"
        return f"{text}: {self.message}" if self.message else text


def _pkix_validator():
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


class CertificateLinter:
    """Builds pkilint validators once per lint type (building them is far costlier than running them)."""

    def __init__(self, *, tolerate_loopback_urls: bool = False) -> None:
        self.tolerates_loopback_urls = tolerate_loopback_urls
        self._validators: dict[str, object] = {}
        self._filters: dict[str, list[object]] = {}
        self._lock = threading.Lock()
        self._loader = loader.RFC5280CertificateDocumentLoader()

    def _validator_for(self, lint_type: str):
        validator = self._validators.get(lint_type)
        if validator is None:
            with self._lock:
                if lint_type == "pkix":
                    validator, filters = _pkix_validator(), []
                else:
                    cert_type = etsi_constants.CertificateType[lint_type]
                    validator = certificate.create_pkix_certificate_validator_container(
                        etsi.create_decoding_validators(cert_type), etsi.create_validators(cert_type)
                    )
                    filters = etsi.create_etsi_finding_filters(cert_type)
                self._validators[lint_type], self._filters[lint_type] = validator, filters
        return validator

    def lint(self, der: bytes, lint_type: str) -> list[Finding]:
        """All findings above INFO for a DER certificate, ERROR/FATAL first."""
        validator = self._validator_for(lint_type)
        document = self._loader.load_der_document(der, "to-be-signed certificate")
        results = validator.validate(document.root)  # type: ignore[attr-defined]
        if self._filters[lint_type]:
            results, _ = finding_filter.filter_results(self._filters[lint_type], results)
        findings = []
        for result in results:
            for description in result.finding_descriptions:
                severity = description.finding.severity
                if severity in (ValidationFindingSeverity.INFO, ValidationFindingSeverity.NOTICE):
                    continue
                severity_name = severity.name
                if self.tolerates_loopback_urls and description.finding.code in LOOPBACK_TOLERATED:
                    severity_name = "WARNING"
                findings.append(
                    Finding(severity_name, description.finding.code, description.message, result.node.path)
                )
        findings.sort(key=lambda f: (f.severity not in BLOCKING, f.code))
        return findings


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in BLOCKING]
