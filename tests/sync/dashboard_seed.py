"""History for the dashboard tests: rows as kiosks would have sent them on other days or at
other hours, copied from a real synced event of the same gate (the dashboard reads the
stored copy; ingest and its checks are tested in test_sync_exchange and friends)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from kiosk.server import tallies
from kiosk.server.db import Partitions
from kiosk.server.ingest import EV


def event_like(like: dict[str, Any], *, day: date, at_utc: datetime, **changes: Any
               ) -> dict[str, Any]:
    """A stored event like ``like`` (a row of ``events`` as a dict), on ``day``; ``temps``
    become the record's readings (°C)."""
    row = {**like, "id": str(uuid.uuid4()), "local_date": day, "wall_utc": at_utc, **changes}
    if "temps" in changes:
        row.pop("temps")
        row["record"] = json.dumps({"readings": [{"used_c": t} for t in changes["temps"]]})
    return row


def store_events(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Stored as ingest stores them: the rows, and the dashboard's counts of them."""
    Partitions(engine).ensure({r["local_date"] for r in rows})
    with engine.begin() as conn:
        conn.execute(insert(EV), rows)
        tallies.record(conn, rows)


def copy_event(engine: Engine, like: dict[str, Any], *, day: date, at_utc: datetime,
               **changes: Any) -> None:
    store_events(engine, [event_like(like, day=day, at_utc=at_utc, **changes)])


def template_row(engine: Engine, checkpoint: str) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(EV).where(EV.c.checkpoint == checkpoint)
                                 .limit(1)).one()._mapping)


def seed_history(engine: Engine, like: dict[str, Any], now_local: datetime,
                 utc_offset_h: int) -> list[str]:
    """Thirteen earlier days of denials and fevers, and today's movements so far at typical
    hours (local 7-20 h, more in the morning and evening) at the gate of ``like``; returns
    the passes left out."""
    today = now_local.date()
    rows = []
    for back in range(1, 14):
        day = today - timedelta(days=back)
        noon = datetime.combine(day, time(12)) - timedelta(hours=utc_offset_h)
        rows += [event_like(like, day=day, at_utc=noon + timedelta(minutes=i), direction="in",
                            outcome="deny", reason="unknown_pass", pass_number=None,
                            escalated=False) for i in range(back % 5 + 1)]
        if back % 4 == 0:
            rows.append(event_like(like, day=day, at_utc=noon, direction="in",
                                   outcome="deny", reason="fever", escalated=True,
                                   temps=[38.1, 38.3]))
    busy = {7: 6, 8: 9, 9: 4, 11: 3, 12: 5, 14: 2, 17: 7, 18: 8, 19: 3}
    out = []
    for hour, n in busy.items():
        start = datetime.combine(today, time(hour))
        for i in range(n):
            at = start + timedelta(minutes=3 * i)
            if at >= now_local.replace(tzinfo=None):
                break  # nothing from the future
            direction = "out" if (hour < 12) == (i % 3 != 0) else "in"
            number = f"H{hour:02d}{i}"
            rows.append(event_like(like, day=today, at_utc=at - timedelta(hours=utc_offset_h),
                                   direction=direction, outcome="allow", reason="ok",
                                   escalated=False, pass_number=number,
                                   household=f"9-1-{hour:02d}{i}"))
            if direction == "out":
                out.append(number)
    store_events(engine, rows)
    return out
