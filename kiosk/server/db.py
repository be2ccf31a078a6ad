"""Opening the central store: SQLite (embedded default) or PostgreSQL, migrated at start.

SQLite reuses the kiosk's engine set-up (WAL, synchronous=FULL, BEGIN IMMEDIATE on demand),
so ``kiosk serve`` works with no set-up; PostgreSQL is what a district command runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Insert,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ColumnElement

from kiosk.resources import package_dir
from kiosk.server.clock import command_today
from kiosk.store.db import create_private
from kiosk.store.db import make_engine as make_sqlite_engine
from kiosk.sync.wire import orjson

#: any arbitrary 64-bit number, the same in every worker: one migrator at a time
_MIGRATION_LOCK = 0x6B696F736B5F6462


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'central' / 'central.sqlite3'}"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _json_text(values: Any) -> str:
    """``values`` as JSON text for PostgreSQL's JSON functions: dates and datetimes as ISO
    8601 (which ``date`` and ``timestamp`` read back exactly)."""
    if orjson is not None:
        return str(orjson.dumps(values).decode())
    return json.dumps(values, default=lambda v: v.isoformat(), ensure_ascii=False)


def one_of(conn: Connection, column: ColumnElement[str], values: Iterable[str], *,
           semi_join: bool = False) -> ColumnElement[bool]:
    """``column IN values`` for a text column; on PostgreSQL the values go as one JSON
    parameter: a batch's 2,000 ids as 2,000 bind parameters (or a text array, which psycopg
    writes at about 1 us an element) cost more to send than the look-up takes.

    By default ``= ANY(ARRAY(..))``: the planner sees one array, as with a literal IN list,
    and probes the column's index with it (the events' partitions). ``semi_join``: ``IN
    (SELECT ..)``, a hash join or an index probe, for the kept tables that grow from empty
    (kiosk.server.tallies): psycopg prepares a statement on its fifth run and PostgreSQL
    keeps the generic plan made then; made while the table was small, the array form was a
    sequential scan searching the 2,000 values row by row (an array that is not a constant
    is not hashed), 50-450 ms a batch once last_movements held 20,000 passes
    (docs/BENCHMARKS_sync.md, session 6)."""
    values = list(values)
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    given = select(func.json_array_elements_text(
        cast(bindparam(None, _json_text(values), type_=Text), JSON)))
    if semi_join:
        return column.in_(given)
    return column == any_(func.array(given.scalar_subquery()))


def upsert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_*``."""
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def insert_rows(conn: Connection, stmt: Insert, rows: Sequence[dict[str, Any]]) -> None:
    """Run ``stmt`` (an INSERT made by ``upsert``, maybe with its ON CONFLICT) for ``rows``
    (same keys, written in this order). On PostgreSQL one statement whose rows are one JSON
    parameter (``INSERT .. SELECT .. FROM json_to_recordset(..)``, typed as the table's
    columns): one round trip, no per-row work in SQLAlchemy and psycopg, where executemany
    cost about 25 us a row; elsewhere executemany."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(stmt, list(rows))
        return
    table = stmt.table
    assert isinstance(table, Table)
    cols = list(rows[0])
    values = func.json_to_recordset(cast(bindparam(None, _json_text(list(rows)), type_=Text),
                                         JSON)).table_valued(
        *(column(c, table.c[c].type) for c in cols)).render_derived(with_types=True)
    conn.execute(stmt.from_select(cols, select(*(values.c[c] for c in cols))))


def make_server_engine(url: str) -> Engine:
    """An engine for ``url``: ``sqlite:///PATH`` or ``postgresql+psycopg://...``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "central.sqlite3")
        create_private(path)  # 0600 in a 0700 directory: every event of every gate
        return make_sqlite_engine(path)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"unsupported database {parsed.get_backend_name()}: use SQLite or "
                         "PostgreSQL (postgresql+psycopg://user@host/db)")
    return create_engine(parsed, pool_size=8, max_overflow=8, pool_pre_ping=True)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(package_dir("migrations_server")))
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply the server's pending migrations; several workers starting at once take turns
    (an advisory lock on PostgreSQL, the write lock on SQLite)."""
    cfg = alembic_config()
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        if is_postgres(engine):
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if is_postgres(engine):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()


class Partitions:
    """Makes the daily partitions of ``events`` on PostgreSQL before rows go in (no-op on
    SQLite). Each is made once, in a short transaction of its own, so ingest transactions
    never hold the parent table's lock; the set already made is cached per process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: set[date] = set()
        self._lock = threading.Lock()

    def ensure(self, days: Iterable[date]) -> None:
        if not is_postgres(self._engine):
            return
        wanted = set(days) - self._known
        if not wanted:
            return
        with self._lock, self._engine.connect() as conn:
            for day in sorted(wanted - self._known):
                with conn.begin():
                    create_partition(conn, day)
                self._known.add(day)


def partition_name(day: date) -> str:
    return f"events_p{day:%Y%m%d}"


def create_partition(conn: Connection, day: date) -> None:
    """CREATE TABLE IF NOT EXISTS one day's partition (serialised by an advisory lock, as two
    workers may want the same new day at once)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": day.toordinal()})
    nxt = day + timedelta(days=1)
    conn.execute(text(
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF events "
        f"FOR VALUES FROM ('{day.isoformat()}') TO ('{nxt.isoformat()}')"
    ))


def open_server_store(url: str) -> Engine:
    """Engine for ``url`` with the schema migrated to head and a week of partitions made."""
    engine = make_server_engine(url)
    upgrade(engine)
    if is_postgres(engine):
        today = command_today()
        Partitions(engine).ensure(today + timedelta(days=d) for d in range(-1, 7))
    return engine
