"""One mapping of deny reasons to the guard's next step (invitations.reasons.NEXT_ACTION): every reason has
one, in Vietnamese and English, and docs/desk.md's table says the same thing in its "what to do" column."""

from __future__ import annotations

import re
from pathlib import Path

from invitations.reasons import (
    ADMIT_NEXT_ACTION_EN,
    ENGLISH,
    NEXT_ACTION,
    NEXT_ACTION_EN,
    VIETNAMESE,
    Reason,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "desk.md"


def test_every_reason_has_a_next_step_in_both_languages() -> None:
    for table in (VIETNAMESE, ENGLISH, NEXT_ACTION, NEXT_ACTION_EN):
        assert set(table) == set(Reason)
    assert all(text.strip() for text in NEXT_ACTION.values())


def test_the_guard_table_in_the_docs_is_the_mapping() -> None:
    rows: dict[str, str] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and (code := re.fullmatch(r"`([a-z_]+)`|—", cells[1])):
            rows[code.group(1) or "admit"] = cells[3]
    assert rows.pop("admit") == ADMIT_NEXT_ACTION_EN
    assert rows == {reason.value: NEXT_ACTION_EN[reason] for reason in Reason}
