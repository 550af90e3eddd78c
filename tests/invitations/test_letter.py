"""The invitation letter (giấy mời): an A4 PDF in Vietnamese with the guest's QR, sealed PAdES B-LT by the
host's agency. Checked with the tools a recipient would use: poppler's pdfsig (the seal validates, by the
agency), pdftotext (the Vietnamese text, diacritics intact), pdftoppm + zxing-cpp (the printed QR is the
pass the desk admits); then the email it rides in (a real SMTP server, aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import itertools
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from ca.signing_keys import CaKeySource
from ca.subjects import SubjectFields
from identity import accounts, audit
from invitations import letter as letters
from invitations import mail, notify
from signing import credentials
from signing.seals import DocumentSealer
from store import invitations_repo as repo
from tests.conftest import Instance, bearer, free_port, make_account
from tests.support.signing import (
    issue_in_custody,
    issue_to,
    new_cccd,
    nss_database,
    pdfsig,
    root_pem,
    signing_service,
)
from tests.support.subjects import AGENCY

_numbers = itertools.count(1)
GUEST = "Nguyễn Thị Minh Khai"


@dataclass
class Office:
    client: TestClient
    instance: Instance
    venue: str
    desk: str
    organization: str
    official: dict[str, str]
    official_id: int
    guard: dict[str, str]


@pytest.fixture(scope="module")
def app(shared_instance: Instance):
    application = create_app(shared_instance.settings)
    yield application
    application.state.kyso.runtime.db.dispose()


def _bind(instance: Instance, username: str, serial: str) -> None:
    with instance.db.transaction() as session:
        account = accounts.get(session, username)
        credentials.bind(session, account=account, serial=serial, now=instance.ca.clock.now())


def _office(app, instance: Instance, *, with_seal: bool = True) -> Iterator[Office]:
    n = next(_numbers)
    organization = f"UBND Phường Thư Mời {n}-{secrets.token_hex(3)}"
    venue, desk = f"UBND-GM{n}", f"gm{n}-gate"
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = bearer(client, make_account(instance, "admin"))
        created = client.post(
            "/api/v1/venues",
            json={"code": venue, "name": "Trụ sở UBND", "address": "92 Nam Kỳ Khởi Nghĩa", "desks": [desk]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        cccd = new_cccd()
        official = make_account(instance, "official", cccd=cccd)
        with instance.db.reading() as session:
            official_id = repo.account_by_username(session, official.username).id
        in_agency = {"organization": organization}
        _bind(instance, official.username, issue_to(instance, cccd, "official", organization))
        if with_seal:
            issue_in_custody(instance, "agency-seal", SubjectFields(**{**AGENCY.as_dict(), **in_agency}))
        yield Office(
            client, instance, venue, desk, organization, bearer(client, official), official_id,
            bearer(client, make_account(instance, "desk", venue=venue)),
        )  # fmt: skip


@pytest.fixture
def office(app, shared_instance: Instance) -> Iterator[Office]:
    yield from _office(app, shared_instance)


@pytest.fixture
def office_without_seal(app, shared_instance: Instance) -> Iterator[Office]:
    yield from _office(app, shared_instance, with_seal=False)


def invite(office: Office, **fields: object) -> dict:
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
    body = {
        "guest_name": GUEST, "venue": office.venue, "meeting_title": "Họp bàn kế hoạch chuyển đổi số",
        "starts_at": start.isoformat(), "ends_at": (start + dt.timedelta(hours=2)).isoformat(), **fields,
    }  # fmt: skip
    response = office.client.post("/api/v1/invitations", json=body, headers=office.official)
    assert response.status_code == 201, response.text
    return response.json()


def fetch_letter(office: Office, invitation_id: str):
    return office.client.get(f"/api/v1/invitations/{invitation_id}/letter.pdf", headers=office.official)


def scan(office: Office, payload: str) -> dict:
    response = office.client.post(
        "/api/v1/checkins", json={"payload": payload, "desk": office.desk}, headers=office.guard
    )
    assert response.status_code == 200, response.text
    return response.json()


def qr_texts_of(pdf: Path, tmp_path: Path) -> list[str]:
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True
    )
    with Image.open(tmp_path / "page.png") as page:
        return [found.text for found in zxingcpp.read_barcodes(page)]


def letter_audits(instance: Instance, invitation_id: str) -> list[audit.AuditRecord]:
    with instance.db.reading() as session:
        return [
            e for e in audit.entries(session) if e.action == "invitation.letter" and e.target == invitation_id
        ]


def test_the_letter_is_sealed_by_the_host_agency_reads_in_vietnamese_and_its_qr_admits(
    office: Office, tmp_path: Path
) -> None:
    created = invite(office, companions=["Lê Văn Tám"])
    response = fetch_letter(office, created["id"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert f"giay-moi-{created['id']}.pdf" in response.headers["content-disposition"]
    pdf = tmp_path / "giay-moi.pdf"
    pdf.write_bytes(response.content)

    subprocess.run(["qpdf", "--check", str(pdf)], check=True, capture_output=True)
    [seal] = pdfsig(pdf, nss_database(tmp_path / "nss", root_pem(office.instance)))
    assert seal.signature_valid and seal.certificate_trusted, seal.raw
    assert office.organization in seal.raw

    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    for expected in ("GIẤY MỜI", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                     f"Kính gửi: Ông/Bà {GUEST}", "Họp bàn kế hoạch chuyển đổi số", "92 Nam Kỳ Khởi Nghĩa",
                     "Lê Văn Tám", f"Số: {created['id']}/GM"):  # fmt: skip
        assert expected in " ".join(text.split()), expected
    assert office.organization.upper() in " ".join(text.split())

    [printed] = qr_texts_of(pdf, tmp_path)  # the same claims, signed again (ECDSA): not the same bytes
    admitted = scan(office, printed)
    assert admitted["decision"] == "admit" and admitted["invitation_id"] == created["id"], admitted
    assert admitted["guest"] == GUEST

    [entry] = letter_audits(office.instance, created["id"])
    document_id = entry.details["document"]
    registered = office.client.get(f"/api/v1/signing/documents/{document_id}")
    assert registered.status_code == 200, registered.text
    assert registered.json()["organization"] == office.organization
    assert registered.json()["kind"] == "seal"


def test_the_letter_is_kept_until_the_invitation_is_amended(office: Office, tmp_path: Path) -> None:
    created = invite(office)
    first, again = fetch_letter(office, created["id"]), fetch_letter(office, created["id"])
    assert first.status_code == again.status_code == 200
    assert first.content == again.content  # the same letter, not sealed twice
    assert len(letter_audits(office.instance, created["id"])) == 1

    amended = office.client.patch(
        f"/api/v1/invitations/{created['id']}",
        json={"meeting_title": "Họp (đã dời giờ)"},
        headers=office.official,
    )
    assert amended.status_code == 200, amended.text
    renewed = fetch_letter(office, created["id"])
    assert renewed.status_code == 200 and renewed.content != first.content
    old_pdf, new_pdf = tmp_path / "first.pdf", tmp_path / "renewed.pdf"
    old_pdf.write_bytes(first.content)
    new_pdf.write_bytes(renewed.content)
    [old_qr], [new_qr] = qr_texts_of(old_pdf, tmp_path), qr_texts_of(new_pdf, tmp_path)
    assert scan(office, old_qr)["reason_code"] == "superseded"
    assert scan(office, new_qr)["decision"] == "admit"
    assert len(letter_audits(office.instance, created["id"])) == 2


def test_no_letter_without_an_agency_seal_for_a_cancelled_invitation_or_for_another_host(
    office: Office, office_without_seal: Office
) -> None:
    lonely = invite(office_without_seal)
    refused = fetch_letter(office_without_seal, lonely["id"])
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "kyso ca issue agency-seal" in refused.json()["detail"]
    assert office_without_seal.organization in refused.json()["detail"]

    created = invite(office)
    other_host = office_without_seal.client.get(
        f"/api/v1/invitations/{created['id']}/letter.pdf", headers=office_without_seal.official
    )
    assert other_host.status_code in (403, 404), other_host.text
    office.client.delete(f"/api/v1/invitations/{created['id']}", headers=office.official)
    cancelled = fetch_letter(office, created["id"])
    assert cancelled.status_code == 409 and "cancelled" in cancelled.json()["detail"]
    assert letter_audits(office.instance, created["id"]) == []


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def test_the_invitation_email_carries_the_sealed_letter(app, office: Office, tmp_path: Path) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        created = invite(office, guest_email="khach@example.vn", send_email=True)
        runtime = office.instance
        context = app.state.kyso.invitations
        service = signing_service(runtime)
        sealer = DocumentSealer(
            service,
            CaKeySource(runtime.db, runtime.ca).agency_seal,
            reason=letters.LETTER_REASON,
            name="gm.pdf",
        )
        smtp = mail.SmtpConfig(host="127.0.0.1", port=controller.port)
        delivered = notify.deliver_due(
            runtime.db, runtime.ca.clock.now, smtp,
            notify.invitation_mail_builder(context, letters.for_mail(runtime.db, context, sealer)),
        )  # fmt: skip
        assert delivered.sent >= 1
    finally:
        controller.stop()
    [message] = [m for m in inbox.messages if m["To"] == "khach@example.vn"]
    [attachment] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == "giay-moi.pdf"
    with runtime.db.reading() as session:
        kept = repo.letter(session, created["id"])
    assert kept is not None and attachment.get_content() == kept.pdf
    pdf = tmp_path / "attached.pdf"
    pdf.write_bytes(kept.pdf)
    [seal] = pdfsig(pdf, nss_database(tmp_path / "nss", root_pem(runtime)))
    assert seal.signature_valid and office.organization in seal.raw
