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


# Building pkilint validators costs far more than running them (each parses the public suffix list),
# so they are built once per process and lint type, and shared by every linter.
_VALIDATORS: dict[str, tuple[object, list[object]]] = {}
_VALIDATORS_LOCK = threading.Lock()


def _validator_for(lint_type: str) -> tuple[object, list[object]]:
    found = _VALIDATORS.get(lint_type)
    if found is None:
        with _VALIDATORS_LOCK:
            if lint_type == "pkix":
                found = (_pkix_validator(), [])
            else:
                cert_type = etsi_constants.CertificateType[lint_type]
                found = (
                    certificate.create_pkix_certificate_validator_container(
                        etsi.create_decoding_validators(cert_type), etsi.create_validators(cert_type)
                    ),
                    etsi.create_etsi_finding_filters(cert_type),
                )
            _VALIDATORS[lint_type] = found
    return found


class CertificateLinter:
    def __init__(self, *, tolerate_loopback_urls: bool = False) -> None:
        self.tolerates_loopback_urls = tolerate_loopback_urls
        self._loader = loader.RFC5280CertificateDocumentLoader()

    def lint(self, der: bytes, lint_type: str) -> list[Finding]:
        """All findings above INFO for a DER certificate, ERROR/FATAL first."""
        validator, filters = _validator_for(lint_type)
        document = self._loader.load_der_document(der, "to-be-signed certificate")
        results = validator.validate(document.root)  # type: ignore[attr-defined]
        if filters:
            results, _ = finding_filter.filter_results(filters, results)
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
