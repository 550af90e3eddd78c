"""The HTTP API as an integrator sees it: issue, search, revoke, suspend, renew, CA certificates, problems.

Every test talks to the real app (``create_app``) over ``TestClient`` on a real database (SQLite and
PostgreSQL), and checks what a client would: status codes, media types, problem documents, and that the
certificates and PKCS#12 files it gets back are what they claim to be.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import PUBLIC_BASE_URL, Instance, bearer, make_account

AUTH: dict[str, str] = {}  # a CA operator's bearer token, filled in by the client fixture
CERTIFICATES = "/api/v1/certificates"
PROBLEM_JSON = "application/problem+json"
P12_PASSWORD = "mật khẩu đủ dài 2025"
_cccd_numbers = itertools.count(1)


def new_cccd() -> str:
    """A valid CCCD (Hồ Chí Minh, male born 2003) not used before in this process."""
    return f"079203{next(_cccd_numbers):06d}"


def citizen(cccd: str | None = None, **extra: object) -> dict[str, object]:
    return {
        "profile": "citizen",
        "surname": "Nguyễn",
        "given_name": "Văn An",
        "cccd": cccd or new_cccd(),
        **extra,
    }


@pytest.fixture(scope="module")
def client(shared_instance: Instance) -> Iterator[TestClient]:
    app = create_app(shared_instance.settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        AUTH.clear()
        AUTH.update(bearer(test_client, make_account(shared_instance, "ca-operator")))
        yield test_client
    app.state.kyso.runtime.db.dispose()


def assert_problem(response, status: int, *fragments: str) -> dict[str, object]:
    """An RFC 9457 problem document with this status whose detail names the problem."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment.lower() in body["detail"].lower(), body["detail"]
    return body


def issue(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    response = client.post(CERTIFICATES, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return response.json()


def spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_of(issued: dict[str, object]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(str(issued["certificate_pem"]).encode())


# -- service basics ----------------------------------------------------------------------------------


def test_healthz_reports_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema_revision"]


def test_docs_and_openapi_are_served(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger" in docs.text.lower()
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"post", "get"} <= paths[CERTIFICATES].keys()
    assert "/api/v1/certificates/{serial}/revoke" in paths


# -- authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer " + "w" * 40},
        {"Authorization": f"Basic {base64.b64encode(b'operator:secret').decode()}"},
        {"Authorization": "Bearer kyso_not-a-real-token"},
    ],
    ids=["no token", "wrong token", "basic scheme", "unknown token"],
)
def test_operator_routes_refuse_without_a_valid_token(
    client: TestClient, shared_instance: Instance, headers: dict[str, str]
) -> None:
    before = shared_instance.counts()
    response = client.post(CERTIFICATES, json=citizen(), headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert shared_instance.counts() == before
    assert_problem(client.get(CERTIFICATES, headers=headers), 401)
    assert_problem(client.get(f"{CERTIFICATES}/00", headers=headers), 401)


def test_roles_without_certificate_permissions_are_refused(
    client: TestClient, shared_instance: Instance
) -> None:
    before = shared_instance.counts()
    official = bearer(client, make_account(shared_instance, "official"))
    assert_problem(client.post(CERTIFICATES, json=citizen(), headers=official), 403, "certificates:issue")
    admin = bearer(client, make_account(shared_instance, "admin"))
    assert client.get(CERTIFICATES, headers=admin).status_code == 200  # admins may read
    assert_problem(client.post(CERTIFICATES, json=citizen(), headers=admin), 403)  # but not issue
    assert shared_instance.counts() == before


# -- issuance ----------------------------------------------------------------------------------------


def test_issue_citizen_with_a_key_in_custody(client: TestClient, shared_instance: Instance) -> None:
    cccd = new_cccd()
    before_certificates, before_keys = shared_instance.counts()
    issued = issue(client, citizen(cccd))
    assert re.fullmatch(r"[0-9a-f]+", str(issued["serial"]))
    assert issued["status"] == "valid"
    assert issued["profile"] == "citizen"
    assert issued["key_in_custody"] is True
    assert issued["pkcs12_base64"] is None
    certificate = certificate_of(issued)
    assert certificate.serial_number == int(str(issued["serial"]), 16)
    uids = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.USER_ID)]
    assert uids == [f"CCCD:{cccd}"]
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn An"
    assert cccd in str(issued["subject"])
    issuer = x509.load_der_x509_certificate(client.get("/pki/ca/citizen.cer").content)
    certificate.verify_directly_issued_by(issuer)
    assert shared_instance.counts() == (before_certificates + 1, before_keys + 1)
    shown = client.get(f"{CERTIFICATES}/{issued['serial']}", headers=AUTH)
    assert shown.status_code == 200
    assert shown.json()["certificate_pem"] == issued["certificate_pem"]


def test_issue_with_pkcs12_delivery_returns_the_key_once(
    client: TestClient, shared_instance: Instance
) -> None:
    before_certificates, before_keys = shared_instance.counts()
    issued = issue(client, citizen(delivery="pkcs12", pkcs12_password=P12_PASSWORD, keygen="ec-p384"))
    assert issued["key_in_custody"] is False
    assert issued["key_algorithm"] == "ec-p384"
    data = base64.b64decode(str(issued["pkcs12_base64"]))
    key, certificate, additional = pkcs12.load_key_and_certificates(data, P12_PASSWORD.encode())
    assert key is not None and certificate is not None
    assert certificate == certificate_of(issued)
    assert spki(key.public_key()) == spki(certificate.public_key())
    citizen_ca = x509.load_der_x509_certificate(client.get("/pki/ca/citizen.cer").content)
    assert citizen_ca in additional
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"not the password")
    # Kyso keeps no copy of a key it delivered
    assert shared_instance.counts() == (before_certificates + 1, before_keys)
    shown = client.get(f"{CERTIFICATES}/{issued['serial']}", headers=AUTH).json()
    assert "pkcs12_base64" not in shown


OTHER_PROFILES = {
    "official": {
        "surname": "Trần",
        "given_name": "Thị Bình",
        "cccd": "079185001235",
        "organization": "UBND Phường Bến Thành",
        "title": "Phó Chủ tịch",
    },
    "agency-seal": {"organization": "UBND Phường Bến Thành", "tax_code": "0300588569"},
}


@pytest.mark.parametrize("profile", OTHER_PROFILES)
def test_officials_and_agency_seals_come_from_the_government_ca(client: TestClient, profile: str) -> None:
    issued = issue(client, {"profile": profile, **OTHER_PROFILES[profile]})
    assert issued["profile"] == profile
    assert issued["issuer"] == "government"
    government = x509.load_der_x509_certificate(client.get("/pki/ca/government.cer").content)
    certificate_of(issued).verify_directly_issued_by(government)
    subject = str(issued["subject"])
    assert "O=UBND Phường Bến Thành" in subject
    if profile == "agency-seal":
        assert "UID=MST:0300588569" in subject


def test_a_serial_can_be_given_as_openssl_prints_it(client: TestClient) -> None:
    serial = str(issue(client, citizen())["serial"])
    colon_form = ":".join(serial[i : i + 2] for i in range(0, len(serial), 2)).upper()
    response = client.get(f"{CERTIFICATES}/{colon_form}", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["serial"] == serial


BAD_BODIES = {
    "CCCD with 11 digits": (citizen("07920300123"), ("CCCD", "12 digits")),
    "CCCD with a bad province code": (citizen("999203001234"), ("province",)),
    "empty surname": (citizen(surname="  "), ("surname",)),
    "unknown profile": ({**citizen(), "profile": "superhero"}, ("profile",)),
    "unknown field": (citizen(favourite_colour="blue"), ("favourite_colour",)),
    "key algorithm the profile refuses": (citizen(keygen="rsa-1024"), ("keygen",)),
    "pkcs12 without a password": (citizen(delivery="pkcs12"), ("password",)),
    "pkcs12 with a short password": (citizen(delivery="pkcs12", pkcs12_password="short"), ("8",)),
    "garbage CSR": (citizen(csr_pem="-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"), ("PKCS#10",)),
    "control character in a name": (citizen(given_name="An\x07"), ("control",)),
    "field the profile lacks": (citizen(tax_code="0300588569"), ("tax code", "not allowed")),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_bad_issue_requests_are_422_problems_and_write_nothing(
    client: TestClient, shared_instance: Instance, case: str
) -> None:
    body, fragments = BAD_BODIES[case]
    before = shared_instance.counts()
    response = client.post(CERTIFICATES, json=body, headers=AUTH)
    assert_problem(response, 422, *fragments)
    assert shared_instance.counts() == before


# -- search ------------------------------------------------------------------------------------------


def test_search_by_cccd_and_status(client: TestClient) -> None:
    cccd = new_cccd()
    issued = issue(client, citizen(cccd))
    page = client.get(CERTIFICATES, params={"cccd": cccd}, headers=AUTH)
    assert page.status_code == 200
    assert page.json()["total"] == 1
    assert [i["serial"] for i in page.json()["items"]] == [issued["serial"]]
    assert (
        client.get(CERTIFICATES, params={"cccd": cccd, "status": "revoked"}, headers=AUTH).json()["items"]
        == []
    )

    revoked = client.post(
        f"{CERTIFICATES}/{issued['serial']}/revoke", json={"reason": "cessation-of-operation"}, headers=AUTH
    )
    assert revoked.status_code == 200, revoked.text
    found = client.get(CERTIFICATES, params={"cccd": cccd, "status": "revoked"}, headers=AUTH).json()
    assert [i["serial"] for i in found["items"]] == [issued["serial"]]
    assert found["items"][0]["revocation_reason"] == "cessation-of-operation"
    assert (
        client.get(CERTIFICATES, params={"cccd": cccd, "status": "valid"}, headers=AUTH).json()["items"] == []
    )
    by_serial = client.get(CERTIFICATES, params={"serial": str(issued["serial"])[:12]}, headers=AUTH)
    assert issued["serial"] in [i["serial"] for i in by_serial.json()["items"]]


@pytest.mark.parametrize("digits", [4, 5, 7, 12], ids=lambda n: f"{n} digits")
def test_search_by_the_leading_digits_of_a_serial(client: TestClient, digits: int) -> None:
    """What an operator pastes from a listing: the first few hex digits, in either case, odd or even."""
    serial = str(issue(client, citizen())["serial"])
    for prefix in (serial[:digits], serial[:digits].upper()):
        page = client.get(CERTIFICATES, params={"serial": prefix, "limit": 1000}, headers=AUTH)
        assert page.status_code == 200, page.text
        assert serial in [i["serial"] for i in page.json()["items"]], prefix


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"status": "bogus"}, "status"), ({"limit": 0}, "limit"), ({"serial": "zz"}, "serial")],
    ids=["unknown status", "limit 0", "serial not hex"],
)
def test_bad_search_parameters_are_422(client: TestClient, params: dict[str, object], fragment: str) -> None:
    assert_problem(client.get(CERTIFICATES, params=params, headers=AUTH), 422, fragment)


# -- one certificate: unknown and malformed serials ---------------------------------------------------

SERIAL_ROUTES = [
    ("get", "{}", None),
    ("get", "{}/status", None),
    ("post", "{}/revoke", {"reason": "unspecified"}),
    ("post", "{}/suspend", None),
    ("post", "{}/reinstate", None),
    ("post", "{}/renew", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), SERIAL_ROUTES, ids=[r[1] for r in SERIAL_ROUTES])
def test_unknown_serial_is_404_and_malformed_serial_is_422(
    client: TestClient, shared_instance: Instance, method: str, path: str, body: object
) -> None:
    before = shared_instance.counts()
    kwargs: dict[str, object] = {"headers": AUTH}
    if body is not None:
        kwargs["json"] = body
    unknown = client.request(method, f"{CERTIFICATES}/{path.format('0badc0ffee')}", **kwargs)  # type: ignore[arg-type]
    assert_problem(unknown, 404, "0badc0ffee")
    malformed = client.request(method, f"{CERTIFICATES}/{path.format('zz')}", **kwargs)  # type: ignore[arg-type]
    assert_problem(malformed, 422, "serial")
    assert shared_instance.counts() == before


# -- lifecycle ---------------------------------------------------------------------------------------


def test_revoke_is_final(client: TestClient) -> None:
    serial = issue(client, citizen())["serial"]
    url = f"{CERTIFICATES}/{serial}"
    revoked = client.post(f"{url}/revoke", json={"reason": "key-compromise"}, headers=AUTH)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revocation_reason"] == "key-compromise"
    assert revoked.json()["revoked_at"]
    shown = client.get(url, headers=AUTH).json()
    assert (shown["status"], shown["revocation_reason"]) == ("revoked", "key-compromise")

    again = client.post(f"{url}/revoke", json={"reason": "superseded"}, headers=AUTH)
    assert_problem(again, 409, "already revoked")
    assert_problem(client.post(f"{url}/reinstate", headers=AUTH), 409, "revoked")
    assert_problem(client.post(f"{url}/suspend", headers=AUTH), 409, "revoked")
    assert_problem(client.post(f"{url}/renew", json={}, headers=AUTH), 409, "revoked")
    # nothing changed the first revocation
    shown = client.get(url, headers=AUTH).json()
    assert (shown["status"], shown["revocation_reason"]) == ("revoked", "key-compromise")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"reason": "certificate-hold"}, "reason"),
        ({"reason": "because"}, "reason"),
        ({}, "reason"),
        ({"reason": "key-compromise", "invalidity_date": "2099-01-01T00:00:00Z"}, "future"),
    ],
    ids=["certificate-hold", "unknown reason", "no reason", "future invalidity date"],
)
def test_bad_revocations_are_422_and_leave_the_certificate_valid(
    client: TestClient, body: dict[str, object], fragment: str
) -> None:
    serial = issue(client, citizen())["serial"]
    response = client.post(f"{CERTIFICATES}/{serial}/revoke", json=body, headers=AUTH)
    assert_problem(response, 422, fragment)
    assert client.get(f"{CERTIFICATES}/{serial}", headers=AUTH).json()["status"] == "valid"


def test_invalidity_date_without_a_time_zone_is_not_a_server_error(client: TestClient) -> None:
    """A date without an offset is either refused as malformed or read as UTC; never a 500."""
    serial = issue(client, citizen())["serial"]
    body = {"reason": "key-compromise", "invalidity_date": "2020-01-02T03:04:05"}
    response = client.post(f"{CERTIFICATES}/{serial}/revoke", json=body, headers=AUTH)
    shown = client.get(f"{CERTIFICATES}/{serial}", headers=AUTH).json()
    if response.status_code == 422:
        assert_problem(response, 422, "invalidity")
        assert shown["status"] == "valid"
    else:
        assert response.status_code == 200, response.text
        assert shown["status"] == "revoked"
        assert shown["invalidity_date"].startswith("2020-01-02T03:04:05")
        assert shown["invalidity_date"].endswith(("Z", "+00:00"))


def test_suspend_and_reinstate_round_trip(client: TestClient) -> None:
    serial = issue(client, citizen())["serial"]
    url = f"{CERTIFICATES}/{serial}"
    assert_problem(client.post(f"{url}/reinstate", headers=AUTH), 409, "not suspended")

    suspended = client.post(f"{url}/suspend", headers=AUTH)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    assert client.get(url, headers=AUTH).json()["status"] == "suspended"
    assert client.get(f"{url}/status", headers=AUTH).json()["status"] == "suspended"
    assert_problem(client.post(f"{url}/suspend", headers=AUTH), 409, "already suspended")

    reinstated = client.post(f"{url}/reinstate", headers=AUTH)
    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["status"] == "valid"
    assert reinstated.json()["revoked_at"] is None
    assert client.get(url, headers=AUTH).json()["status"] == "valid"


def test_renew_issues_a_new_certificate_and_supersedes_the_old(
    client: TestClient, shared_instance: Instance
) -> None:
    old = issue(client, citizen())
    before_certificates, before_keys = shared_instance.counts()
    response = client.post(f"{CERTIFICATES}/{old['serial']}/renew", json={}, headers=AUTH)
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["serial"] != old["serial"]
    assert new["renewed_from"] == old["serial"]
    assert new["status"] == "valid"
    assert new["subject"] == old["subject"]
    assert new["key_in_custody"] is True
    assert certificate_of(new).public_key() != certificate_of(old).public_key()
    # a fresh key: re-key, not just a new certificate
    assert shared_instance.counts() == (before_certificates + 1, before_keys + 1)

    shown = client.get(f"{CERTIFICATES}/{old['serial']}", headers=AUTH).json()
    assert (shown["status"], shown["revocation_reason"]) == ("revoked", "superseded")
    assert_problem(client.post(f"{CERTIFICATES}/{old['serial']}/renew", json={}, headers=AUTH), 409)


def test_renewing_a_delivered_key_needs_a_new_password_or_csr(
    client: TestClient, shared_instance: Instance
) -> None:
    old = issue(client, citizen(delivery="pkcs12", pkcs12_password=P12_PASSWORD))
    before = shared_instance.counts()
    response = client.post(f"{CERTIFICATES}/{old['serial']}/renew", json={}, headers=AUTH)
    assert_problem(response, 422, "PKCS#12")
    assert shared_instance.counts() == before
    assert client.get(f"{CERTIFICATES}/{old['serial']}", headers=AUTH).json()["status"] == "valid"

    renewed = client.post(
        f"{CERTIFICATES}/{old['serial']}/renew", json={"pkcs12_password": P12_PASSWORD}, headers=AUTH
    )
    assert renewed.status_code == 201, renewed.text
    key, certificate, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(renewed.json()["pkcs12_base64"]), P12_PASSWORD.encode()
    )
    assert certificate is not None and key is not None
    assert certificate.serial_number == int(renewed.json()["serial"], 16)


# -- PKI endpoints -----------------------------------------------------------------------------------


def pem_blocks(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def test_ca_certificates_at_their_aia_urls(client: TestClient) -> None:
    response = client.get("/pki/ca/citizen.cer")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pkix-cert"
    citizen_ca = x509.load_der_x509_certificate(response.content)

    chain = client.get("/pki/ca/citizen/chain.pem")
    assert chain.status_code == 200
    assert chain.headers["content-type"].startswith("application/pem-certificate-chain")
    certificates = pem_blocks(chain.text)
    assert certificates[0] == citizen_ca
    root = x509.load_der_x509_certificate(client.get("/pki/ca/root.cer").content)
    assert certificates[-1] == root
    assert len(certificates) == 2
    root.verify_directly_issued_by(root)
    citizen_ca.verify_directly_issued_by(root)

    assert_problem(client.get("/pki/ca/nope.cer"), 404, "nope")
    assert_problem(client.get("/pki/ca/nope/chain.pem"), 404, "nope")


def test_issued_certificates_point_at_the_ca_certificate_url(client: TestClient) -> None:
    certificate = certificate_of(issue(client, citizen()))
    aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    issuers = [
        d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    assert issuers, "no caIssuers URL in the certificate"
    path = "/" + issuers[0].split("://", 1)[1].split("/", 1)[1]
    fetched = client.get(path)
    assert fetched.status_code == 200
    certificate.verify_directly_issued_by(x509.load_der_x509_certificate(fetched.content))


def test_authorities_list_the_hierarchy(client: TestClient) -> None:
    response = client.get("/api/v1/authorities")
    assert response.status_code == 200
    authorities = {a["id"]: a for a in response.json()}
    assert set(authorities) == {"root", "citizen", "government"}
    assert authorities["root"]["parent"] is None
    assert authorities["citizen"]["parent"] == "root"
    assert authorities["government"]["parent"] == "root"
    host = PUBLIC_BASE_URL.split("://", 1)[1]
    for authority in authorities.values():
        assert host in authority["certificate_url"]
        assert authority["certificate_url"].endswith(f"/pki/ca/{authority['id']}.cer")
    served = x509.load_der_x509_certificate(client.get("/pki/ca/government.cer").content)
    assert served.serial_number == int(authorities["government"]["serial"], 16)


# -- robustness --------------------------------------------------------------------------------------

PATH_VALUES = {
    "serial": ["0badc0ffee", "zz"],
    "authority_id": ["citizen", "nope"],
    "encoded": ["AAAA"],
    "username": ["nobody", "<script>"],
    "key_id": ["1", "x"],
    "document_id": ["nope", "<script>"],
}
OTHER_PATH_VALUES = ["1", "nope"]  # any parameter of a newer route: a plausible and a made-up value
GARBAGE_BODIES = [
    (b"not json", {"content-type": "application/json"}),
    (b"not json", {"content-type": "text/plain"}),
    (b"", {"content-type": "application/json"}),
    (b"[]", {"content-type": "application/json"}),
    (b"null", {"content-type": "application/json"}),
    (b'{"reason": 1, "profile": []}', {"content-type": "application/json"}),
    (b"\xff\xfe\x00garbage", {"content-type": "application/json"}),
]


def concrete_paths(template: str) -> list[str]:
    names = re.findall(r"{(\w+)(?::\w+)?}", template)
    paths = [template]
    for name in names:
        paths = [
            re.sub(rf"{{{name}(?::\w+)?}}", value, p)
            for p in paths
            for value in PATH_VALUES.get(name, OTHER_PATH_VALUES)
        ]
    return paths


def test_no_route_answers_5xx_to_garbage_or_wrong_methods(client: TestClient) -> None:
    """Every route in the OpenAPI document, with unknown and malformed path values, garbage bodies and
    methods it does not have: always a 4xx (or a protocol answer), never a server error."""
    spec = client.get("/openapi.json").json()
    assert len(spec["paths"]) >= 10
    failures: list[str] = []
    for template, operations in spec["paths"].items():
        declared = {m.upper() for m in operations}
        for path in concrete_paths(template):
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                bodies = GARBAGE_BODIES if method != "GET" else [(b"", {})]
                for body, headers in bodies:
                    response = client.request(method, path, content=body, headers={**AUTH, **headers})
                    if response.status_code >= 500:
                        failures.append(f"{method} {path} {body!r}: {response.status_code} {response.text}")
                    if method not in declared and method != "HEAD":
                        if response.status_code != 405:
                            failures.append(f"{method} {path}: {response.status_code}, expected 405")
                        elif not response.headers["content-type"].startswith(PROBLEM_JSON):
                            failures.append(f"{method} {path}: 405 without problem+json")
    assert not failures, "\n".join(failures)
