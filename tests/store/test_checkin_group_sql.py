"""The check-in decider's hand-written SQL (store/checkin_groups.py) against store/models.py: every
statement runs on a schema created from the models alone (not from the migrations), and the bulk inserts
give every column the models require, with the models' types."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import DateTime, Integer, String, Text, create_engine

from store import checkin_groups as sql
from store.models import AuditEntry, Base, OutboxMessage
from tests.support.postgres import fresh_database, libpq_url

NOW = dt.datetime.now(dt.UTC)
# Each statement with parameters of the right types and no rows: PostgreSQL still resolves every table,
# column and type it names when it plans the statement.
STATEMENTS = {
    "live tokens": (sql._LIVE_TOKENS, {"hashes": [], "now": NOW}),
    "invitations": (sql._INVITATIONS, {"ids": []}),
    "lock": (sql._LOCK, {"ids": [], "numbers": []}),
    "consume and record": (
        sql._CONSUME_AND_RECORD,
        {
            "ids": [],
            "numbers": [],
            "allowed": [],
            "tokens": [],
            "venues": [],
            "desks": [],
            "actors": [],
            "now": NOW,
        },
    ),
    "head": (sql._HEAD, {"id": 1}),
    "last check-ins": (sql._LAST_CHECKINS, {"ids": []}),
    "audit entries": (sql._INSERT_AUDIT, {name: [] for name, _ in sql._AUDIT_COLUMNS}),
    "outbox": (sql._INSERT_OUTBOX, {name: [] for name, _ in sql._OUTBOX_COLUMNS}),
    "move head": (sql._MOVE_HEAD, {"seq": 0, "hash": "0" * 64, "id": 1}),
}
SQL_TYPES = {"integer": Integer, "text": (String, Text), "timestamptz": DateTime}


def test_every_statement_runs_on_a_schema_made_from_the_models(postgres_server: str, tmp_path: Path) -> None:
    url = fresh_database(postgres_server, f"models_only_{tmp_path.name[-20:]}".lower().replace("-", "_"))
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    problems = []
    with psycopg.connect(libpq_url(url)) as connection:
        for name, (statement, parameters) in STATEMENTS.items():
            try:
                with connection.transaction(force_rollback=True):
                    connection.execute(statement, parameters)
            except psycopg.Error as error:
                problems.append(f"{name}: {error}")
    assert problems == []


@pytest.mark.parametrize(
    ("model", "columns"), [(AuditEntry, sql._AUDIT_COLUMNS), (OutboxMessage, sql._OUTBOX_COLUMNS)]
)
def test_the_bulk_inserts_fill_every_required_column_with_its_type(model: type, columns) -> None:
    table = model.__table__
    named = dict(columns)
    required = {
        c.name for c in table.columns
        if not c.nullable and c.default is None and c.server_default is None and c.autoincrement is not True
    }  # fmt: skip
    assert required <= set(named), f"{table.name}: not inserted: {required - set(named)}"
    for name, kind in columns:
        assert name in table.columns, f"{table.name} has no column {name}"
        declared = table.columns[name].type
        stored = getattr(declared, "impl", declared)  # a TypeDecorator (UtcDateTime) stores as its impl
        assert isinstance(stored, SQL_TYPES[kind]), (name, declared, kind)
        if kind == "timestamptz":
            assert stored.timezone, f"{name} is not timestamp with time zone"
