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

The cutoff comes from the system clock, which a Raspberry Pi cannot always trust: a clock set
60 days ahead would wipe today's records. ``purge`` refuses (``ClockNotTrusted``) when the OS
says the clock is not synchronised, when the last sync measured it off, when it contradicts
the newest event (behind it, or moved more than the monotonic clock since it in this boot),
or when the purge would wipe even the newest event, i.e. nothing at all was recorded in the
whole retention period (say ``clock_is_right`` when the kiosk really stood unused that long).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from sqlalchemy import Engine

from kiosk import sysclock
from kiosk.core.clock import MAX_STEP_S, ClockSample, clock_is_off, offset_text
from kiosk.export.summary import TOTAL, live_summary
from kiosk.store import audit
from kiosk.store.events import PERSONAL_FIELDS
from kiosk.store.lite import sql_datetime

DEFAULT_DAYS = 28
#: columns declared NOT NULL among the personal ones: emptied to '' instead of NULL
_NOT_NULL = ("note",)


#: meta key of the clock offset measured at the last sync (kiosk.sync.state.CLOCK_OFFSET)
_CLOCK_OFFSET = "sync.clock_offset_s"


class ClockNotTrusted(Exception):
    """The purge was refused: the clock that sets its cutoff cannot be believed."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    cutoff: date  # events with local_date before this day were (or would be) wiped
    events: int  # events whose personal fields were (or would be) wiped
    days: list[date]  # the days concerned, whose counts were frozen
    dry_run: bool


def _not_wiped_sql() -> str:
    return " OR ".join(f"({c} IS NOT NULL AND {c} != '')" for c in PERSONAL_FIELDS)


def clock_problem(engine: Engine, days: int, clock: ClockSample, os_synced: bool | None,
                  *, clock_is_right: bool = False) -> str | None:
    """Why ``clock`` must not set a purge's cutoff (None: it may). ``clock_is_right`` (the
    admin checked the date) waives only what cannot be proven wrong: an unsynchronised
    clock, and a purge that wipes every record; never a contradiction."""
    with engine.connect() as conn:
        offset = conn.exec_driver_sql("SELECT value FROM meta WHERE key = ?",
                                      (_CLOCK_OFFSET,)).scalar()
        newest = conn.exec_driver_sql(
            "SELECT wall_utc, monotonic_s, boot_id, local_date FROM gate_events "
            "ORDER BY wall_utc DESC LIMIT 1").first()
        last = conn.exec_driver_sql(
            "SELECT wall_utc, monotonic_s, boot_id FROM gate_events "
            "ORDER BY seq DESC LIMIT 1").first()
    if offset and clock_is_off(float(offset)):
        return (f"at the last sync this clock was {offset_text(float(offset))} against the "
                "central store; set the time and sync first")
    now = datetime.fromtimestamp(clock.wall_s, UTC).replace(tzinfo=None)
    if newest is not None:
        newest_wall = datetime.fromisoformat(newest[0])
        if newest_wall.replace(tzinfo=UTC).timestamp() > clock.wall_s + MAX_STEP_S:
            return (f"the newest event was recorded at {newest_wall:%Y-%m-%d %H:%M} UTC, later "
                    f"than the clock's {now:%Y-%m-%d %H:%M} UTC: the clock is behind")
    if last is not None and last[2] == clock.boot_id:
        moved = clock.wall_s - datetime.fromisoformat(last[0]).replace(tzinfo=UTC).timestamp()
        passed = clock.monotonic_s - last[1]
        if abs(moved - passed) > MAX_STEP_S:
            return (f"the clock moved {moved / 86400:+.1f} days since the newest event while "
                    f"{passed / 86400:.1f} days passed: it was changed")
    if clock_is_right:
        return None
    if os_synced is False:
        return (f"the system clock ({now:%Y-%m-%d %H:%M} UTC) is not synchronised (no network "
                "time); connect the kiosk, or check the date and confirm that the clock is "
                "right")
    cutoff = date.fromtimestamp(clock.wall_s) - timedelta(days=days)
    if newest is not None and date.fromisoformat(newest[3]) < cutoff:
        return (f"the newest event is from {newest[3]}, so this purge would wipe every "
                f"record; with a clock set ahead that wipes today's records. If nothing was "
                f"recorded since {newest[3]}, confirm that the clock is right")
    return None


def purge(engine: Engine, days: int = DEFAULT_DAYS, *, today: date | None = None,
          actor: str = "retention", dry_run: bool = False,
          now: datetime | None = None, clock: ClockSample | None = None,
          os_synced: bool | None = None, clock_is_right: bool = False) -> PurgeReport:
    """Wipe the personal fields of events older than ``days`` days (local dates before
    ``today - days``), freezing each affected day's counts first; audited. One transaction:
    a power cut leaves either nothing or everything done.

    ``now`` (aware; the clock's time by default) is when the purge is recorded, kept in UTC
    (the audit row, the frozen days' ``frozen_at``).

    Without ``today`` the date comes from ``clock`` (default: the system clock, and the
    OS's word ``os_synced`` on it), and the purge raises ClockNotTrusted when that clock
    cannot be believed (``clock_problem``)."""
    if days < 1:
        raise ValueError("retention must keep at least one day")
    if today is None:
        if clock is None:
            clock, os_synced = sysclock.sample(), sysclock.os_clock_synced()
        problem = clock_problem(engine, days, clock, os_synced, clock_is_right=clock_is_right)
        if problem is not None:
            raise ClockNotTrusted(f"nothing was purged: {problem}")
        today = date.fromtimestamp(clock.wall_s)
        now = now or datetime.fromtimestamp(clock.wall_s, UTC)
    cutoff = today - timedelta(days=days)
    at = now or datetime.now(UTC)
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
            audit.record_in(cur.connection, actor, audit.PURGE, detail, at)
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
                   sql_datetime(at.astimezone(UTC))])


def counts_to_freeze(c: sqlite3.Cursor, day: date) -> dict[str, dict[str, int]]:
    """The day's counts per checkpoint and in total, as frozen (also by the central store's
    retention, on its temporary kiosk store)."""
    counts = live_summary(c, day)
    if len(counts) == 1:  # one checkpoint: keep its row as the total too, for a later filter
        (only,) = counts.values()
        counts = {**counts, TOTAL: dict(only)}
    return counts
