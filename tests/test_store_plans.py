"""The store's look-ups stay searches once SQLite has statistics (ANALYZE, or the
``PRAGMA optimize`` its documentation recommends for long-lived databases).

With every event's NULL in ix_gate_events_corrects, ANALYZE said one value matched every
row, and SQLite answered "was this movement undone?" by scanning the whole table for each
event of the export's day: 20,000 events took 53 s to export (bench/bench_export.py).
Migration 0009 indexes the corrections only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kiosk.export.columns import movements_sql
from kiosk.store.db import open_store
from kiosk.store.events import _EVENT_COLS
from kiosk.store.roster import acknowledged, undone

EVENTS = 3000


def _fill(db: Path) -> None:
    """A day of movements written straight into the migrated file, statistics taken while
    none was undone (the usual day), then the last movement undone."""
    open_store(db).close()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN")
    base = dict.fromkeys(_EVENT_COLS)
    base.update(device_id="d", wall_utc="2026-02-10 01:00:00.000000", utc_offset_min=480,
                local_date="2026-02-10", monotonic_s=1.0, boot_id="b", clock_state="trusted",
                checkpoint="north", direction="out", identified_by="qr", outcome="allow",
                reason="ok", counts_against_quota=1, escalated=0, fever_threshold_c=37.3,
                forehead_offset_c=0.0, note="", prev_hash="0" * 64, hash="0" * 64,
                personal_digest="0" * 64, pass_kind="resident")
    sql = f"INSERT INTO gate_events ({','.join(_EVENT_COLS)}) VALUES " \
          f"({','.join('?' * len(_EVENT_COLS))})"
    for seq in range(1, EVENTS + 1):
        row = {**base, "id": f"e{seq}", "seq": seq, "pass_number": f"R{seq:07d}",
               "household": f"H{seq // 3}"}
        if seq == EVENTS:
            con.execute("COMMIT")
            con.execute("ANALYZE")
            row.update(outcome="undo", reason="undone", corrects_event_id=f"e{seq - 1}")
        con.execute(sql, [row[c] for c in _EVENT_COLS])
    con.close()


def _plan(con: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params)]


def test_with_statistics_an_undo_is_still_found_by_a_search_not_a_scan(tmp_path: Path):
    db = tmp_path / "kiosk.sqlite3"
    _fill(db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    export = _plan(con, movements_sql(mask=True), ("2026-02-10",))
    assert "SCAN u LEFT-JOIN" not in export, export
    assert any(step.startswith("SEARCH u USING") for step in export), export
    # the gate's quota and last direction ask the same of each household's exits
    for check in (undone, acknowledged):
        plan = _plan(con, f"SELECT e.id FROM gate_events AS e WHERE e.household = ? "
                          f"AND NOT {check('e')}", ("H7",))
        assert not any(step.startswith("SCAN c") for step in plan), plan
    # and the answers are right: the undone movement is found as undone
    found = con.execute(f"SELECT e.id FROM gate_events AS e WHERE e.household = 'H999' "
                        f"AND {undone('e')}").fetchall()
    assert found == [(f"e{EVENTS - 1}",)]
