"""The running app's way into the store: the standard library's sqlite3, no SQLAlchemy.

SQLAlchemy costs about 16 MB of a Pi's memory once imported (docs/BENCHMARKS.md, Memory),
and the running gate needs none of it: its queries are fixed SQL text. So the app's data
paths (the gate's reads and its one durable write path, the audit log, volunteers, the
view models' queries, sync) take a :class:`Db`, and SQLAlchemy + Alembic stay where they
earn their place: the migrations (which alone make and change the schema), the roster
importer, the CLI tools and the central store. Tables and columns are still defined once
(kiosk.store.models, the event's fields in kiosk.core.event); every SQL text of this layer
is prepared against a migrated store by tests/test_store_sql.py, so a renamed column fails
there, not at a gate.

Values as SQLAlchemy's SQLite types keep them (the same file is read by both): DATETIME as
``YYYY-MM-DD HH:MM:SS.ffffff`` text, DATE as ISO text, booleans as 0/1. Every time the kiosk
takes of itself is kept in naive UTC (``utc_now``), as the events' ``wall_utc``: the kiosk's
zone can change (a Pi set up in UTC, then set to Asia/Shanghai; daylight saving abroad), and
local times kept beside UTC ones would mix two clocks. People see them in the kiosk's zone
(``local_time``); migration 0010 moved the rows written before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    #: what this layer's functions take: the app's sqlite3 connection, or a tool's
    #: SQLAlchemy connection (its sqlite3 connection is used, inside its transaction)
    AnyConnection: TypeAlias = sqlite3.Connection | Connection
    #: where a function opens its own transaction: the app's Db, or a tool's engine
    Source: TypeAlias = "Db | Engine"

#: every connection to the store, whoever opens it (kiosk.store.db sets them on SQLAlchemy's
#: too): WAL with synchronous=FULL, so a committed event survives a power cut
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
           "PRAGMA busy_timeout=10000")
#: page cache of each of the app's reading connections (KiB; SQLite's default is 2 MiB per
#: connection, and each app thread keeps one): the gate's look-ups are a few index pages,
#: the rest comes from the OS's cache
READER_CACHE_KIB = 256


def configure(con: sqlite3.Connection) -> None:
    """Autocommit at the driver level (transactions are begun explicitly, so a writer takes
    the write lock up front with BEGIN IMMEDIATE and never deadlocks on upgrade), and the
    store's pragmas."""
    con.isolation_level = None
    for pragma in PRAGMAS:
        con.execute(pragma)


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection to the store's file, usable from any thread (one user at a time)."""
    con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    configure(con)
    return con


@contextmanager
def transaction(con: sqlite3.Connection, *, immediate: bool = False
                ) -> Iterator[sqlite3.Connection]:
    """BEGIN [IMMEDIATE] ... COMMIT around the block, ROLLBACK when it raises. Reads in one
    transaction see one snapshot; ``immediate`` takes the write lock at once."""
    con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class Db:
    """The store's file for the running app: one connection per thread (the app's worker,
    sync and chores threads each keep theirs), opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sqlite3.Connection] = []

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: each statement outside ``read``/``write``
        is a transaction of its own)."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = connect(self.path)
            con.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
            with self._lock:
                self._open.append(con)
        return con

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several reads from one snapshot."""
        with transaction(self.connection()) as con:
            yield con

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, durable when the block ends (BEGIN IMMEDIATE ... COMMIT)."""
        with transaction(self.connection(), immediate=True) as con:
            yield con

    def close(self) -> None:
        with self._lock:
            for con in self._open:
                con.close()
            self._open.clear()
        self._local = threading.local()


def driver(con: AnyConnection) -> sqlite3.Connection:
    """The sqlite3 connection to run this layer's SQL on: ``con`` itself, or the one under
    a tool's SQLAlchemy connection (in the transaction that connection has begun)."""
    if isinstance(con, sqlite3.Connection):
        return con
    return cast(sqlite3.Connection, con.connection.driver_connection)


@contextmanager
def reading(source: Source) -> Iterator[sqlite3.Connection]:
    """Reads from one snapshot, on the app's Db or a tool's SQLAlchemy engine."""
    if isinstance(source, Db):
        with source.read() as con:
            yield con
        return
    with source.connect() as conn, transaction(driver(conn)) as con:
        yield con


@contextmanager
def writing(source: Source) -> Iterator[sqlite3.Connection]:
    """A write transaction (BEGIN IMMEDIATE), on the app's Db or a tool's engine."""
    if isinstance(source, Db):
        with source.write() as con:
            yield con
        return
    with source.connect() as conn, transaction(driver(conn), immediate=True) as con:
        yield con


def sql_datetime(value: datetime) -> str:
    """A naive datetime as SQLAlchemy's SQLite DATETIME keeps it (and compares it, as text):
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (isoformat: a fifth of strftime's time, asked at every
    movement); a zone, if any, is left out as strftime left it out."""
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def utc_now() -> datetime:
    """Now, as the kiosk keeps its own times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def local_time(naive_utc: datetime) -> datetime:
    """A kept time (naive UTC) in the kiosk's zone as it is set now, aware (for people)."""
    return naive_utc.replace(tzinfo=UTC).astimezone()


def read_datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def read_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def one(con: sqlite3.Connection, sql: str, params: Any = ()) -> Any:
    """The first column of the first row, None when there is no row."""
    row = con.execute(sql, params).fetchone()
    return None if row is None else row[0]
