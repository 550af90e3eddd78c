"""A failing statement's error (what a traceback in the log shows) carries no SQL parameters: they hold
password and API-key hashes and guests' personal data (issue 16, item 12)."""

from __future__ import annotations

import datetime as dt
import logging
import traceback

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from store.db import Database
from store.migrate import upgrade
from store.models import Account

SECRET_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0LXNhbHQ$never-in-a-log"
CCCD = "079203987654"


def test_a_failing_statement_does_not_show_its_parameters(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    upgrade(db)
    row = {
        "username": "lan",
        "display_name": "Nguyễn Thị Lan",
        "role": "official",
        "password_hash": SECRET_HASH,
        "created_at": dt.datetime.now(dt.UTC),
    }
    try:
        with db.transaction() as session:
            session.execute(insert(Account).values(**row))
        with pytest.raises(IntegrityError) as caught, db.transaction() as session:
            # the same username again: a unique violation, with the hash and a CCCD among the parameters
            session.execute(insert(Account).values(**{**row, "cccd": CCCD}))
        logging.getLogger("kyso.test").error("failed", exc_info=caught.value)
    finally:
        db.dispose()
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "INSERT INTO accounts" in shown  # the statement is still named
    assert SECRET_HASH not in shown and "never-in-a-log" not in shown
    assert CCCD not in shown
    assert "Nguyễn Thị Lan" not in shown
