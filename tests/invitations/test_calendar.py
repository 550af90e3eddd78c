"""The invitation's calendar file (RFC 5545) with hostile names: a host or title with ``"`` ``;`` ``:``
``,`` and line breaks cannot break a content line, add a property or parameter, or end ORGANIZER's CN
early. Parsed back here by the RFC's grammar (unfold, then name, parameters with quoted strings, value)."""

from __future__ import annotations

import datetime as dt
import re

from invitations import mail

HOSTILE_HOST = 'Lê "Sếp"; Phó: Giám đốc, UBND\r\nATTENDEE:mailto:evil@example.com\r\n\x00\x1b\x7f'
HOSTILE_TITLE = 'Họp; bàn: "dự án", đợt 1\r\nBEGIN:VALARM\nTRIGGER:-PT5M\\n\r'
NOW = dt.datetime.now(dt.UTC)
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def hostile_mail(host_name: str = HOSTILE_HOST) -> mail.InvitationMail:
    start = NOW.replace(microsecond=0) + dt.timedelta(days=1)
    return mail.InvitationMail(
        invitation_id="inv-1",
        to="khach@example.vn",
        guest_name='Khách "A", B; C:\r\nD',
        host_name=host_name,
        meeting_title=HOSTILE_TITLE,
        venue_name="Phòng 1; tầng 2",
        venue_address="Số 1, Tràng Tiền\r\nHà Nội",
        windows=[(start, start + dt.timedelta(hours=1))],
        token_text="KY1:x",
        qr_png=b"",
    )


def content_lines(text: str) -> list[tuple[str, dict[str, str], str]]:
    """(name, parameters, value) per content line: RFC 5545 §3.1 unfolding and its ABNF for parameters."""
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode()) <= 75, line
        assert not CONTROL.search(line.replace("\t", "")), repr(line)  # no bare CR, LF or other CONTROL
    unfolded: list[str] = []
    for line in physical:
        if line.startswith(" "):
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    parsed = []
    for line in unfolded:
        match = re.match(r"([A-Za-z0-9-]+)", line)
        assert match, line
        name, rest = match.group(1), line[match.end() :]
        params: dict[str, str] = {}
        while rest.startswith(";"):
            param = re.match(
                r';([A-Za-z0-9-]+)=("[^"\x00-\x08\x0a-\x1f\x7f]*"|[^";:,\x00-\x08\x0a-\x1f\x7f]*)', rest
            )
            assert param, f"a malformed parameter in {line!r}"
            value = param.group(2)
            params[param.group(1)] = value[1:-1] if value.startswith('"') else value
            rest = rest[param.end() :]
        assert rest.startswith(":"), f"no ':' after the parameters of {line!r}"
        parsed.append((name, params, rest[1:]))
    return parsed


def text_value(value: str) -> str:
    """A TEXT value unescaped (RFC 5545 §3.3.11); an unescaped ; or , would be a list separator."""
    assert not re.search(r"(?<!\\)(?:\\\\)*[;,]", value), f"an unescaped separator in {value!r}"
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def test_a_hostile_host_name_stays_inside_organizers_cn() -> None:
    lines = content_lines(mail.calendar(hostile_mail(), "no-reply@kyso.example.vn", NOW))
    names = [name for name, _, _ in lines]
    assert names == [
        "BEGIN",
        "VERSION",
        "PRODID",
        "METHOD",
        "BEGIN",
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "SUMMARY",
        "LOCATION",
        "DESCRIPTION",
        "ORGANIZER",
        "END",
        "END",
    ]  # fmt: skip  -- no ATTENDEE, no VALARM: nothing injected
    (organizer,) = [(params, value) for name, params, value in lines if name == "ORGANIZER"]
    params, value = organizer
    assert value == "mailto:no-reply@kyso.example.vn"
    assert set(params) == {"CN"}
    assert params["CN"] == "Lê Sếp; Phó: Giám đốc, UBND ATTENDEE:mailto:evil@example.com"
    by_name = {name: value for name, _, value in lines}
    assert text_value(by_name["SUMMARY"]) == 'Họp; bàn: "dự án", đợt 1\nBEGIN:VALARM\nTRIGGER:-PT5M\\n\n'
    assert text_value(by_name["LOCATION"]) == "Phòng 1; tầng 2, Số 1, Tràng Tiền\nHà Nội"
    description = text_value(by_name["DESCRIPTION"])
    assert 'Khách: Khách "A", B; C:\nD.' in description
    assert 'Người mời: Lê "Sếp"; Phó: Giám đốc, UBND\nATTENDEE:mailto:evil@example.com\n.' in description


def test_plain_names_are_left_as_they_are_and_long_lines_fold_between_characters() -> None:
    text = mail.calendar(hostile_mail("Nguyễn Thị Lan"), "no-reply@kyso.example.vn", NOW)
    assert "ORGANIZER;CN=Nguyễn Thị Lan:mailto:no-reply@kyso.example.vn" in text.replace("\r\n ", "")
    long_name = "Trần Thị Bình, Phó Chủ tịch Ủy ban nhân dân phường Tràng Tiền, quận Hoàn Kiếm"
    lines = content_lines(mail.calendar(hostile_mail(long_name), "no-reply@kyso.example.vn", NOW))
    (params,) = [params for name, params, _ in lines if name == "ORGANIZER"]
    assert params == {"CN": long_name}
