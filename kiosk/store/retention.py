"""Retention: personal data of old gate events is wiped; the records and the counts stay.

For every event older than the retention period (default 28 days) the personal columns
(kiosk.store.events.PERSONAL_FIELDS: pass number, resident, household, visitor name, phone,
reason, host building, note) are set to NULL (``note`` to ''). That is the one UPDATE the
append-only trigger allows, and the hash chain still verifies through each row's kept
``personal_digest``. Visitors exist only in those columns, so they are gone with them.

Before a day is wiped its daily counts are frozen into ``daily_summaries`` (unique residents,
visitors and "still out" cannot be counted once the personal columns are empty), so the
nightly summary of that day gives the same numbers before and after.

The wipe runs with ``PRAGMA secure_delete`` and a WAL checkpoint afterwards, so the old values
do not linger in free pages of the database file. Backups (kept 7 days) still hold them until
they rotate out.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Engine

from kiosk.export.summary import TOTAL, live_summary
from kiosk.store import audit
from kiosk.store.events import PERSONAL_FIELDS

DEFAULT_DAYS = 28
#: columns declared NOT NULL among the personal ones: emptied to '' instead of NULL
_NOT_NULL = ("note",)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: date  # events with local_date before this day were (or would be) wiped
    events: int  # events whose personal fields were (or would be) wiped
    days: list[date]  # the days concerned, whose counts were frozen
    dry_run: bool


def _not_wiped_sql() -> str:
    return " OR ".join(f"({c} IS NOT NULL AND {c} != '')" for c in PERSONAL_FIELDS)


def purge(engine: Engine, days: int = DEFAULT_DAYS, *, today: date | None = None,
          actor: str = "retention", dry_run: bool = False,
          now: datetime | None = None) -> PurgeReport:
    """Wipe the personal fields of events older than ``days`` days (local dates before
    ``today - days``), freezing each affected day's counts first; audited. One transaction:
    a power cut leaves either nothing or everything done."""
    if days < 1:
        raise ValueError("retention must keep at least one day")
    today = today or date.today()
    cutoff = today - timedelta(days=days)
    at = now or datetime.now()
    pending = f"local_date < ? AND ({_not_wiped_sql()})"
    raw = engine.raw_connection()
    try:
        cur = cast(sqlite3.Cursor, raw.cursor())
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("BEGIN IMMEDIATE")
        open_tx = True
        try:
            day_rows = cur.execute(
                f"SELECT local_date, count(*) FROM gate_events WHERE {pending} "
                "GROUP BY local_date ORDER BY local_date", [cutoff.isoformat()]).fetchall()
            affected = [date.fromisoformat(d) for d, _ in day_rows]
            events = sum(n for _, n in day_rows)
            if dry_run or not affected:
                open_tx = False
                cur.execute("ROLLBACK")
                return PurgeReport(cutoff, events, affected, dry_run)
            for day in affected:
                _freeze_day(cur, day, at)
            sets = ", ".join(f"{c} = ''" if c in _NOT_NULL else f"{c} = NULL"
                             for c in PERSONAL_FIELDS)
            cur.execute(f"UPDATE gate_events SET {sets} WHERE {pending}", [cutoff.isoformat()])
            detail = {"days": days, "cutoff": cutoff.isoformat(), "events": events,
                      "first_day": affected[0].isoformat(), "last_day": affected[-1].isoformat()}
            cur.execute("INSERT INTO audit_log (at, actor, action, detail) VALUES (?,?,?,?)",
                        [at.strftime("%Y-%m-%d %H:%M:%S.%f"), actor[:100], audit.PURGE,
                         json.dumps(detail, sort_keys=True)])
            cur.execute("COMMIT")
            open_tx = False
        except BaseException:
            if open_tx:
                cur.execute("ROLLBACK")
            raise
        # move the wiped pages out of the WAL into the (zeroed) main file
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.execute("PRAGMA secure_delete=OFF")  # the pooled connection goes back as it was
        cur.close()
    finally:
        raw.close()
    return PurgeReport(cutoff, events, affected, dry_run)


def _freeze_day(c: sqlite3.Cursor, day: date, at: datetime) -> None:
    """Keep the day's counts (per checkpoint and the total) unless already frozen: a day is
    frozen once, by the first purge that reaches it."""
    exists = c.execute("SELECT 1 FROM daily_summaries WHERE local_date = ? LIMIT 1",
                       [day.isoformat()]).fetchone()
    if exists:
        return
    for checkpoint, values in counts_to_freeze(c, day).items():
        c.execute("INSERT INTO daily_summaries (local_date, checkpoint, counts, frozen_at) "
                  "VALUES (?,?,?,?)",
                  [day.isoformat(), checkpoint, json.dumps(values, sort_keys=True),
                   at.strftime("%Y-%m-%d %H:%M:%S.%f")])


def counts_to_freeze(c: sqlite3.Cursor, day: date) -> dict[str, dict[str, int]]:
    """The day's counts per checkpoint and in total, as frozen (also by the central store's
    retention, on its temporary kiosk store)."""
    counts = live_summary(c, day)
    if len(counts) == 1:  # one checkpoint: keep its row as the total too, for a later filter
        (only,) = counts.values()
        counts = {**counts, TOTAL: dict(only)}
    return counts
