"""The privacy audit trail: who looked up or exported personal data, when, and what.

Rows are only ever added. ``detail`` says what was touched (a query, a date, a directory)
without copying the personal data itself into the log.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from kiosk.store.models import AuditRow

A = AuditRow.__table__

#: the actions written by this code base (others may be added; the column is free text)
LOOKUP, EXPORT, EXPORT_UNMASKED, PURGE = "lookup", "export", "export_unmasked", "purge"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    detail: str


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


def record_in(conn: Connection, actor: str, action: str, detail: str | dict[str, Any] = "",
              at: datetime | None = None) -> None:
    """Add an audit row inside the caller's transaction (so the audited act and its record
    commit together)."""
    conn.execute(insert(AuditRow).values(at=at or datetime.now(), actor=actor[:100],
                                  action=action[:40], detail=_detail_text(detail)))


def record(engine: Engine, actor: str, action: str, detail: str | dict[str, Any] = "",
           at: datetime | None = None) -> None:
    """Add an audit row in a transaction of its own (e.g. for a look-up on the gate screen)."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        record_in(conn, actor, action, detail, at)
        conn.commit()


def entries(engine: Engine, *, action: str | None = None, since: datetime | None = None,
            limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    stmt = select(A).order_by(A.c.at.desc(), A.c.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(A.c.action == action)
    if since is not None:
        stmt = stmt.where(A.c.at >= since)
    with engine.connect() as conn:
        return [AuditEntry(r.id, r.at, r.actor, r.action, r.detail) for r in conn.execute(stmt)]
