"""Every SQL text of the running app's store layer (kiosk.store.lite and the modules on it)
names tables and columns that the migrations made: a renamed or dropped column fails here,
at once, not at a gate. Tables are defined once (kiosk.store.models, the migrations); the
SQL is prepared (EXPLAIN) against a migrated store, with NULL for every parameter."""

from __future__ import annotations

import importlib
import re
import sqlite3
from collections.abc import Iterator

import pytest

from kiosk.store import lite
from kiosk.store.db import open_store

#: the modules whose queries the running app runs on sqlite3
MODULES = ("kiosk.store.audit", "kiosk.store.events", "kiosk.store.importer",
           "kiosk.store.passkeys", "kiosk.store.roster", "kiosk.store.rules",
           "kiosk.store.volunteers", "kiosk.sync.state", "kiosk.sync.runner",
           "kiosk.ui.vm.queries", "kiosk.export.nightly")
_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _statements() -> list[tuple[str, str]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, str) and _STATEMENT.match(value) and "{" not in value:
                found.append((f"{name}.{attr}", value))
    return found


def _params(sql: str) -> object:
    """NULL for each parameter of ``sql`` (positional or named)."""
    named = re.findall(r":(\w+)", sql)
    return dict.fromkeys(named) if named else (None,) * sql.count("?")


STATEMENTS = _statements()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    store = open_store(tmp_path_factory.mktemp("sql") / "k.sqlite3")
    con = lite.connect(store.path)
    yield con
    con.close()
    store.close()


def test_the_running_app_has_its_queries_here():
    assert len(STATEMENTS) >= 30, [n for n, _ in STATEMENTS]


@pytest.mark.parametrize(("where", "sql"), STATEMENTS, ids=[n for n, _ in STATEMENTS])
def test_every_statement_prepares_against_the_migrated_schema(
        migrated: sqlite3.Connection, where: str, sql: str):
    migrated.execute("EXPLAIN " + sql, _params(sql))  # no such table/column: fails


def test_a_wrong_column_would_be_caught(migrated: sqlite3.Connection):
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        migrated.execute("EXPLAIN SELECT pass_numbr FROM gate_events")
