"""The dashboard's kept counts (kiosk.server.tallies) are the same on PostgreSQL, where ingest
writes a batch's counts and last movements as one statement a table, as on SQLite, where it
writes them row by row, and equal a recount: the same events, batches of 2,000 as a kiosk
sends them, passes moving several times within a batch and across batches (older movements
arriving after newer ones), denials and fevers, an undo, a correction that arrives before
the movement it undoes, and a batch sent twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sync_testkit import shared_cluster

from kiosk import settings as settings_mod
from kiosk.core.clock import ClockSample
from kiosk.core.decision import UNDONE, Decision, Outcome
from kiosk.core.event import EventJson, IdentifiedBy
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.server import admin, tallies
from kiosk.server.db import open_server_store
from kiosk.server.ingest import Ingest
from kiosk.server.tallies import KEPT
from kiosk.store.db import open_store
from kiosk.store.events import EventWriter, Movement
from kiosk.sync.runner import load_events

EVENTS = 3000


def _record(data_dir: Path) -> tuple[str, list[EventJson]]:
    """A kiosk's ``EVENTS`` movements over two days (200 passes, each several times), with
    denials, fevers and undos; returns its device id and its events in seq order."""
    settings = settings_mod.load(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    writer = EventWriter(store.path, background_checkpoints=False)
    policy = settings.policy()
    start = time.time() - 2 * 86400
    with writer.transaction() as conn:
        for i in range(EVENTS):
            number = f"R{i * 7 % 200:04d}"
            if i % 97 == 5:
                decision = Decision(Outcome.DENY, Reason.UNKNOWN_PASS)
            else:
                decision = Decision(Outcome.ALLOW, Reason.OK, counts_against_quota=i % 3 == 0,
                                    escalate=i % 211 == 7)
            movement = Movement(
                checkpoint=settings.checkpoint.id,
                direction=Direction.OUT if i % 2 else Direction.IN, decision=decision,
                readings=[make_reading(38.5 if i % 211 == 7 else 36.4)], policy=policy,
                identified_by="scanner", pass_number=number, pass_kind="resident",
                household=f"H{i % 50}")
            clock = ClockSample(start + i * 50.0, 1000.0 + i * 50.0, "boot-tallies")
            event = writer.append(conn, settings.device.id, movement, clock, True)
            if i % 401 == 9:  # undone at the gate a moment later
                writer.append(conn, settings.device.id, Movement(
                    checkpoint=settings.checkpoint.id, direction=movement.direction,
                    decision=UNDONE, readings=[], policy=policy,
                    identified_by=IdentifiedBy.CORRECTION.value, pass_number=number,
                    pass_kind="resident", household=movement.household,
                    corrects_event_id=event.id),
                    ClockSample(start + i * 50.0 + 5, 1005.0 + i * 50.0, "boot-tallies"), True)
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        events = load_events(conn, ids)
    writer.close()
    store.close()
    return settings.device.id, events


def _kept(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}


def _recounted(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    with engine.connect() as conn:
        tx = conn.begin()
        tallies.rebuild(conn)
        out = {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}
        tx.rollback()
    return out


def _ingest_all(engine: Engine, device_id: str, events: list[EventJson]) -> None:
    admin.enrol_device(engine, admin.make_enrolment_code(engine, "gate-1", "c1"), device_id)
    ingest = Ingest(engine)
    undo = next(e for e in events if e["corrects_event_id"])
    moved = next(e for e in events if e["id"] == undo["corrects_event_id"])
    first = [e for e in events if e is not moved]
    ingest.ingest(device_id, [undo])  # the correction before the movement it undoes
    newer, older = first[1000:], first[:1000]
    for part in (newer[:2000], newer[2000:], older, [moved]):  # newer movements first
        result = ingest.ingest(device_id, part)
        assert not result.rejected
    again = ingest.ingest(device_id, events[:2000])  # a lost acknowledgement
    assert again.stored == 0 and not again.rejected


def test_kept_counts_are_the_same_on_postgresql_and_sqlite_and_equal_a_recount(
        tmp_path: Path):
    device_id, events = _record(tmp_path / "kiosk")
    sqlite = open_server_store(f"sqlite:///{tmp_path / 'central.sqlite3'}")
    postgres = open_server_store(shared_cluster().new_database("tallies"))
    try:
        for engine in (sqlite, postgres):
            _ingest_all(engine, device_id, events)
        kept = _kept(postgres)
        assert kept == _kept(sqlite)
        assert kept == _recounted(postgres) == _recounted(sqlite)
        # what was counted: every movement, denial and fever, and passes' last movements
        days = kept["gate_days"]
        assert sum(r[4] + r[5] for r in days) == sum(
            e["outcome"] == "allow" for e in events) - len(kept["undone_events"])
        assert sum(r[6] for r in days) == sum(e["outcome"] == "deny" for e in events) > 0
        assert sum(r[7] for r in days) == sum(e["escalated"] for e in events) > 0
        assert len(kept["last_movements"]) == 200 and kept["out_counts"]
    finally:
        sqlite.dispose()
        postgres.dispose()
