"""The privacy audit trail: who looked up or exported personal data, when, and what.

Rows are only ever added. ``detail`` says what was touched (a query, a date, a directory)
without copying the personal data itself into the log.

``at`` is naive UTC, as the events' ``wall_utc``, with the kiosk's UTC offset at that moment
in ``utc_offset_min`` (as the events keep theirs): in local time, a kiosk whose zone was
changed (set up in UTC, then Asia/Shanghai) or that crossed a daylight saving change had a
trail whose order and times disagreed with its events. People see the times in the kiosk's
zone (``kiosk audit list``); migration 0010 moved the rows written before.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiosk.store import lite

if TYPE_CHECKING:  # the central store's log (and the tools') go through SQLAlchemy
    from sqlalchemy import Engine, Table

    from kiosk.store.lite import AnyConnection

_INSERT = ("INSERT INTO audit_log (at, utc_offset_min, actor, action, detail) "
           "VALUES (?, ?, ?, ?, ?)")

#: the actions written by this code base (others may be added; the column is free text)
LOOKUP, EXPORT, EXPORT_UNMASKED, PURGE = "lookup", "export", "export_unmasked", "purge"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    #: naive UTC (both stores)
    at: datetime
    actor: str
    action: str
    detail: str
    #: the request's address, on the central store (its audit log has that column)
    client: str = ""
    #: the kiosk's UTC offset when the row was written (minutes; the central store keeps
    #: none: 0)
    utc_offset_min: int = 0


def cli_actor() -> str:
    """The actor recorded for a command-line run: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"cli:{user}"


def _detail_text(detail: str | dict[str, Any]) -> str:
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)


def offset_min(at: datetime) -> int:
    """The kiosk's UTC offset at ``at`` (aware), in minutes, as the events compute theirs."""
    offset = at.astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def record_in(conn: Any, actor: str, action: str, detail: str | dict[str, Any] = "",
              at: datetime | None = None, *, table: Table | None = None, **extra: str) -> None:
    """Add an audit row inside the caller's transaction (so the audited act and its record
    commit together): the kiosk's log through ``conn`` (kiosk.store.lite), ``at`` aware (any
    zone; now by default), kept in UTC with the kiosk's offset; ``table``/``extra``: the
    central store's log (a SQLAlchemy connection), which has more columns and takes ``at``
    in naive UTC (kiosk.server.audit)."""
    text = _detail_text(detail)
    if table is None:
        when = at or datetime.now(UTC)
        if when.tzinfo is None:  # a naive time could be either clock: refused, not guessed
            raise ValueError("the kiosk's audit time must carry its zone")
        kiosk: AnyConnection = conn
        lite.driver(kiosk).execute(_INSERT, (lite.sql_datetime(when.astimezone(UTC)),
                                             offset_min(when), actor[:100], action[:40],
                                             text))
        return
    if at is None:  # kiosk.server.audit gives its clock's time (this machine's is not it)
        raise ValueError("the central store's audit time is given (kiosk.server.audit)")
    from sqlalchemy import insert

    conn.execute(insert(table).values(at=at, actor=actor[:100], action=action[:40],
                                      detail=text, **extra))


def record(engine: Engine, actor: str, action: str, detail: str | dict[str, Any] = "",
           at: datetime | None = None, *, table: Table | None = None, **extra: str) -> None:
    """Add an audit row in a transaction of its own (e.g. for a look-up on the gate screen)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        record_in(conn, actor, action, detail, at, table=table, **extra)
        conn.commit()


def entries(engine: Engine, *, action: str | None = None, since: datetime | None = None,
            limit: int = 100, table: Table | None = None) -> list[AuditEntry]:
    """Newest first (by UTC: the true order, whatever the kiosk's zone was); ``at`` and
    ``since`` in naive UTC."""
    from sqlalchemy import select

    from kiosk.store.models import AuditRow

    table = AuditRow if table is None else table
    stmt = select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(table.c.action == action)
    if since is not None:
        stmt = stmt.where(table.c.at >= since)
    with engine.connect() as conn:
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.detail, getattr(r, "client", ""),
                           getattr(r, "utc_offset_min", 0)) for r in conn.execute(stmt)]
