"""Retention on the central store: personal data of old events is wiped, counts stay.
On a compound hub the movements the district passed down (``hub_movements``) of those days
are deleted too, and are not taken again when the district sends them once more.

The same rule as on the kiosks (kiosk.store.retention): for events older than the retention
period the personal fields (kiosk.store.events.PERSONAL_FIELDS) are emptied, in the typed
columns and in the kept record, whose ``personal_digest`` still proves the hash chain
(``kiosk serve verify`` passes afterwards). Each day's counts (per checkpoint and the
district total, computed exactly as the district export does) are frozen first into
``daily_summaries``, so the nightly summary of that day is the same before and after.

A day is done in one transaction with its frozen counts and the audit row. Events of a
frozen day that arrive later (a kiosk offline for weeks) are wiped by the next run; they are
not in the frozen counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, func, insert, or_, select, text

from kiosk.server import audit, hub, tallies
from kiosk.server.clock import command_today, utc_now
from kiosk.server.export import SUMMARIES, district_store
from kiosk.server.ingest import EV
from kiosk.store.events import PERSONAL_FIELDS
from kiosk.store.retention import DEFAULT_DAYS, counts_to_freeze

#: personal fields declared NOT NULL on the kiosk: emptied to '' instead of null
_EMPTY_TEXT = ("note",)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: date
    events: int
    days: list[date]
    dry_run: bool


def _pending(conn: Connection, cutoff: date) -> dict[date, tuple[int, datetime | None]]:
    """Days before ``cutoff`` with events not yet wiped: {day: (events, frozen at)}. A day
    is wiped up to the time its counts were frozen; later arrivals are pending again."""
    frozen = (select(SUMMARIES.c.local_date, func.max(SUMMARIES.c.frozen_at).label("at"))
              .group_by(SUMMARIES.c.local_date).subquery())
    rows = conn.execute(
        select(EV.c.local_date, func.count(), func.max(frozen.c.at))
        .select_from(EV.outerjoin(frozen, frozen.c.local_date == EV.c.local_date))
        .where(EV.c.local_date < cutoff,
               or_(frozen.c.at.is_(None), EV.c.received_at > frozen.c.at))
        .group_by(EV.c.local_date).order_by(EV.c.local_date))
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def _wiped_record_sql(conn: Connection) -> str:
    """SQL giving ``record`` with the personal fields emptied (JSON functions of the
    database, so a day of a whole district is one UPDATE, not a round trip per event)."""
    if conn.dialect.name == "postgresql":
        return "(record::jsonb || CAST(:wipe AS jsonb))::text"
    paths = ", ".join(f"'$.{f}', {chr(39) * 2 if f in _EMPTY_TEXT else 'NULL'}"
                      for f in PERSONAL_FIELDS)
    return f"json_set(record, {paths})"


def _day_counts(engine: Engine, day: date) -> dict[str, dict[str, int]]:
    with district_store(engine, day) as store:
        raw = store.engine.raw_connection()
        try:
            return counts_to_freeze(cast(Any, raw.cursor()), day)
        finally:
            raw.close()


def purge(engine: Engine, days: int = DEFAULT_DAYS, *, today: date | None = None,
          actor: str | None = None, dry_run: bool = False,
          now: datetime | None = None) -> PurgeReport:
    """Wipe the personal fields of events with a local date before ``today - days``,
    freezing each day's counts first; audited. ``now``: naive UTC, as ``received_at``."""
    if days < 1:
        raise ValueError("retention must keep at least one day")
    today = today or command_today()
    cutoff = today - timedelta(days=days)
    at = now or utc_now()  # naive UTC, as received_at
    with engine.connect() as conn:
        pending = _pending(conn, cutoff)
    report = PurgeReport(cutoff, sum(n for n, _ in pending.values()), sorted(pending), dry_run)
    if dry_run:
        return report
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        passed_down = hub.forget_before(conn, cutoff)
        if passed_down:
            audit.record_in(conn, actor or audit.cli_actor(), audit.PURGE,
                            {"before": cutoff.isoformat(), "hub_movements": passed_down,
                             "keep_days": days})
    if not pending:
        return report
    wipe = {f: ("" if f in _EMPTY_TEXT else None) for f in PERSONAL_FIELDS}
    for day, (events, frozen_at) in sorted(pending.items()):
        counts = _day_counts(engine, day) if frozen_at is None else {}
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            if counts:
                conn.execute(insert(SUMMARIES), [
                    {"local_date": day, "checkpoint": checkpoint, "frozen_at": at,
                     "counts": json.dumps(values, sort_keys=True)}
                    for checkpoint, values in counts.items()])
            conn.execute(text(
                f"UPDATE events SET pass_number = NULL, household = NULL, "
                f"record = {_wiped_record_sql(conn)} WHERE local_date = :day "
                "AND received_at > :after AND received_at <= :at"),
                {"wipe": json.dumps(wipe), "day": day, "at": at,
                 "after": frozen_at or datetime(1970, 1, 1)})
            tallies.forget_before(conn, day + timedelta(days=1))
            if frozen_at is not None:  # late arrivals wiped: the day is done up to now
                conn.execute(SUMMARIES.update().where(SUMMARIES.c.local_date == day)
                             .values(frozen_at=at))
            audit.record_in(conn, actor or audit.cli_actor(), audit.PURGE,
                            {"day": day.isoformat(), "events": events, "keep_days": days,
                             "late_arrivals": frozen_at is not None})
    return report
