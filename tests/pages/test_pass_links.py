"""Pass links without a browser: the MAC binds the id and the token version, and the invitation email
carries the link."""

from __future__ import annotations

import datetime as dt

from core.settings import Settings
from invitations import mail, pass_links
from tests.support.clock import upcoming


def test_a_link_is_bound_to_its_id_and_version() -> None:
    key = pass_links.derive_key(Settings(master_key="k" * 40))
    token = pass_links.token_for(key, "abcdefghijkmnpqr", 2)
    assert pass_links.check(key, token, 2) == pass_links.Checked("abcdefghijkmnpqr", True)
    assert pass_links.check(key, token, 3) == pass_links.Checked("abcdefghijkmnpqr", False)  # amended since
    assert pass_links.check(key, token.replace("abcdefghijkmnpqr", "abcdefghijkmnpqs"), 2) is None
    other = pass_links.derive_key(Settings(master_key="m" * 40))
    assert pass_links.check(other, token, 2) is None  # another instance's master key
    assert pass_links.check(key, "abcdefghijkmnpqr", 2) is None


def test_the_invitation_email_links_the_pass_page() -> None:
    start = upcoming(9).astimezone(dt.UTC)  # 09:00 in Hồ Chí Minh City
    url = "https://kyso.example.vn/pass/abc.def"
    about = mail.InvitationMail(
        invitation_id="abc", to="khach@example.vn", guest_name="<b>Khách</b>", host_name="Host",
        meeting_title="Họp", venue_name="UBND", venue_address=None, windows=[(start, start)],
        token_text="KY1:X", qr_png=b"\x89PNG", pass_url=url,
    )  # fmt: skip
    message = mail.invitation_message(about, "Kyso <no-reply@kyso.invalid>", start)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert url in text and f'href="{url}"' in html and "&lt;b&gt;Khách" in html
