"""The WAL is folded into the database file without a gate commit waiting for it, and it
starts over even while writes go on (kiosk.store.events.Checkpointer)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.settings import Settings
from kiosk.store.events import EventWriter, Movement, verify_chain
from kiosk.sysclock import sample


def _restarts(db: Path) -> int:
    """The WAL header's checkpoint sequence number: SQLite adds one each time it writes the
    WAL from its start again (https://sqlite.org/fileformat.html#wal_file_format)."""
    with open(db.with_name(db.name + "-wal"), "rb") as wal:
        header = wal.read(16)
    return struct.unpack(">I", header[12:16])[0] if len(header) == 16 else 0


def _movement(settings: Settings, direction: Direction, number: str) -> Movement:
    return Movement(checkpoint="north", direction=direction,
                    decision=Decision(Outcome.ALLOW, Reason.OK),
                    readings=[make_reading(36.5)], policy=settings.policy(),
                    identified_by="scanner", pass_number=number)


def test_a_burst_of_movements_does_not_grow_the_wal_without_end(loaded_store, settings):
    """A passive checkpoint never finishes while the writer keeps adding frames, so a WAL
    checkpointed only that way is never started over in a burst: it grew by every write
    (133 MB in 6,000 writes) and each commit, extending the file, took twice as long. The
    checkpointer copies what is left holding the writer's lock once the WAL is long."""
    db = loaded_store.path
    movement = _movement(settings, Direction.IN, "R0001")
    writer = EventWriter(db)
    try:
        writer.record(settings.device.id, movement, sample(), True)
        first = _restarts(db)
        written, largest = 1, 0
        deadline = time.monotonic() + 20.0
        while _restarts(db) < first + 3 and written < 8000 and time.monotonic() < deadline:
            writer.record(settings.device.id, movement, sample(), True)
            written += 1
            largest = max(largest, db.with_name(db.name + "-wal").stat().st_size)
        restarts = _restarts(db) - first
    finally:
        writer.close()
    assert restarts >= 3, f"the WAL did not start over in {written} writes back to back"
    # every write of the burst is kept, in one chain, and queued for the district
    with loaded_store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM gate_events").scalar() == written
        assert conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar() == written
    assert verify_chain(loaded_store.engine, settings.device.id) == []
    # the WAL never held much more than the writes between two checkpoints
    assert largest < 64 * 1024 * 1024


def test_at_a_gates_pace_a_movement_does_not_start_the_wal_over(loaded_store, settings):
    """A WAL checkpointed whole is started over by the next commit, which syncs the WAL's
    new header first: checkpointed after every movement, each movement paid that second
    fsync (and the checkpoint a third, on a Pi's SD card). The checkpointer waits for
    about SQLite's own 1000 pages of commits."""
    db = loaded_store.path
    movement = _movement(settings, Direction.OUT, "R0003")
    writer = EventWriter(db)
    try:
        writer.record(settings.device.id, movement, sample(), True)
        first = _restarts(db)
        for _ in range(30):  # people one after another, with the pause a checkpoint takes
            time.sleep(0.02)
            writer.record(settings.device.id, movement, sample(), True)
        restarts = _restarts(db) - first
    finally:
        writer.close()
    assert restarts <= 1
    with loaded_store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM gate_events").scalar() == 31
    assert verify_chain(loaded_store.engine, settings.device.id) == []
