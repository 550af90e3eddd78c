"""Request and response bodies of the JSON API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ca.records import CertificateInfo
from ca.revocation_reasons import RevocationReason


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    common_name: str | None = Field(None, description="full name with diacritics; derived when omitted")
    surname: str | None = Field(None, examples=["Nguyễn"])
    given_name: str | None = Field(None, examples=["Văn An"])
    cccd: str | None = Field(None, description="12-digit citizen identity number", examples=["079203001234"])
    organization: str | None = Field(None, examples=["UBND Phường Bến Thành"])
    organizational_unit: str | None = None
    title: str | None = Field(None, examples=["Chuyên viên"])
    tax_code: str | None = Field(None, description="mã số thuế (MST)", examples=["0301234562"])
    province: str | None = Field(None, examples=["Thành phố Hồ Chí Minh"])
    locality: str | None = Field(None, examples=["Phường Bến Thành"])


class IssueIn(SubjectIn):
    profile: Literal["citizen", "official", "agency-seal"]
    csr_pem: str | None = Field(
        None, description="PKCS#10 request in PEM; omit to have the service generate a key"
    )
    keygen: Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] | None = None
    delivery: Literal["custody", "pkcs12"] = Field(
        "custody", description="custody: the key stays in the service; pkcs12: returned once, encrypted"
    )
    pkcs12_password: str | None = Field(None, min_length=8, max_length=256)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: RevocationReason
    invalidity_date: AwareDatetime | None = Field(
        None, description="with a time zone, e.g. 2026-11-20T08:00:00+07:00"
    )


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    csr_pem: str | None = None
    keygen: Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] | None = None
    pkcs12_password: str | None = Field(None, min_length=8, max_length=256)


class CertificateOut(BaseModel):
    serial: str
    profile: str
    status: Literal["valid", "suspended", "revoked", "expired"]
    issuer: str
    subject: str
    subject_fields: dict[str, str]
    key_algorithm: str
    key_in_custody: bool
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None
    renewed_from: str | None
    certificate_pem: str

    @classmethod
    def of(cls, info: CertificateInfo) -> CertificateOut:
        return cls(**info.as_json())


class IssuedOut(CertificateOut):
    pkcs12_base64: str | None = Field(None, description="present once, when delivery was pkcs12")


class CertificatePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[CertificateOut]


class AuthorityOut(BaseModel):
    id: str
    parent: str | None
    subject: str
    key_algorithm: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    certificate_url: str
    crl_url: str
    ocsp_url: str | None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    schema_revision: str | None
