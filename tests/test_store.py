"""The local store keeps every gate event as durable, ordered, tamper-evident evidence."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from kiosk_testing import FakeClock
from sqlalchemy import text

from kiosk.core.clock import ClockState
from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.gate import Gate, GateError
from kiosk.store.db import (
    BACKUPS_KEPT,
    StoreCorrupt,
    latest_backup,
    make_backup,
    open_store,
)
from kiosk.store.events import EventWriter, Movement, verify_chain


def test_the_database_runs_in_wal_mode_with_full_sync_and_foreign_keys(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_gate_event_records_everything_about_the_movement(gate: Gate, settings):
    result = gate.check("r0001", [make_reading(37.5), make_reading(36.8)],
                        direction=Direction.OUT, identified_by="qr")
    assert result.decision.allowed
    with gate.store.engine.connect() as conn:
        ev = conn.execute(text("SELECT * FROM gate_events")).mappings().one()
        rd = conn.execute(text("SELECT * FROM readings ORDER BY ordinal")).mappings().all()
    assert ev["id"] == result.event.id and len(ev["id"]) == 36
    assert ev["device_id"] == settings.device.id and ev["seq"] == 1
    assert ev["direction"] == "out" and ev["pass_number"] == "R0001"
    assert ev["household"] == "3-1-402" and ev["counts_against_quota"] == 1
    assert ev["outcome"] == "allow" and ev["reason"] == "ok"
    assert ev["fever_threshold_c"] == 37.3 and ev["identified_by"] == "qr"
    assert ev["monotonic_s"] > 0 and ev["boot_id"] and ev["clock_state"] == "trusted"
    # both readings of the re-measure are kept, in order
    assert [r["used_c"] for r in rd] == [37.5, 36.8]


def test_sequence_numbers_follow_each_other_and_the_household_quota_is_counted(gate: Gate):
    first = gate.check("R0001", [make_reading(36.5)], direction=Direction.OUT)
    second = gate.check("R0002", [make_reading(36.5)], direction=Direction.OUT)
    assert first.decision.allowed
    # same household (3-1-402), one outing in two days: the second member is stopped
    assert second.decision.reason is Reason.QUOTA_USED
    other = gate.check("R0003", [make_reading(36.5)], direction=Direction.OUT)
    assert other.decision.allowed
    assert [first.event.seq, second.event.seq, other.event.seq] == [1, 2, 3]


def test_direction_defaults_to_the_opposite_of_the_last_movement(gate: Gate):
    found = gate.identify("R0003")
    assert gate.suggest_direction(found) is Direction.OUT
    gate.check("R0003", [make_reading(36.5)], direction=Direction.OUT)
    assert gate.suggest_direction(gate.identify("R0003")) is Direction.IN
    # a refused attempt is not a movement
    gate.check("R0003", [make_reading(38.0), make_reading(38.2)], direction=Direction.IN)
    assert gate.suggest_direction(gate.identify("R0003")) is Direction.IN


def test_events_are_append_only(gate: Gate):
    gate.check("R0001", [make_reading(36.5)])
    with gate.store.engine.connect() as conn:
        for sql in ("UPDATE gate_events SET outcome='deny'", "DELETE FROM gate_events",
                    "UPDATE readings SET used_c=35.0", "DELETE FROM readings"):
            with pytest.raises(Exception, match="append-only"):
                conn.exec_driver_sql(sql)


def test_a_correction_is_a_new_event_that_references_the_old_one(gate: Gate, settings):
    from kiosk.store.events import Movement, record_event

    wrong = gate.check("R0003", [make_reading(36.5)], direction=Direction.OUT)
    fix = Movement(checkpoint="gate-1", direction=Direction.IN, decision=wrong.decision,
                   readings=[], policy=gate.policy, identified_by="correction",
                   pass_number="R0003", corrects_event_id=wrong.event.id,
                   note="volunteer pressed OUT by mistake")
    ev = record_event(gate.store.engine, settings.device.id, fix, gate._clock(), True)
    with gate.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT seq, corrects_event_id FROM gate_events ORDER BY seq").all()
    assert rows == [(1, None), (2, wrong.event.id)] and ev.seq == 2


def test_an_altered_or_deleted_record_breaks_the_hash_chain(gate: Gate, settings):
    for n in ("R0001", "R0003", "W0001"):
        gate.check(n, [make_reading(36.5)])
    assert verify_chain(gate.store.engine, settings.device.id) == []
    raw = sqlite3.connect(gate.store.path)
    raw.execute("DROP TRIGGER gate_events_no_update")  # what a tamperer would have to do
    raw.execute("UPDATE gate_events SET pass_number='R9999', direction='in' WHERE seq=2")
    raw.commit()
    assert any("seq 2: record altered" in p for p in verify_chain(gate.store.engine,
                                                                     settings.device.id))
    raw.execute("DROP TRIGGER gate_events_no_delete")
    raw.execute("DROP TRIGGER readings_no_delete")
    raw.execute("DELETE FROM readings WHERE event_id=(SELECT id FROM gate_events WHERE seq=2)")
    raw.execute("DELETE FROM gate_events WHERE seq=2")
    raw.commit()
    raw.close()
    problems = verify_chain(gate.store.engine, settings.device.id)
    assert any("gap before seq 3" in p for p in problems)


def test_events_recorded_with_an_untrusted_clock_are_flagged_never_reordered(
        gate: Gate, clock: FakeClock):
    clock.synced = False
    a = gate.check("R0003", [make_reading(36.5)])
    assert a.event.clock_state is ClockState.NOT_SYNCED
    clock.synced = True
    clock.advance(60)
    assert gate.check("R0003", [make_reading(36.5)]).event.clock_state is ClockState.TRUSTED
    clock.wall_s -= 3600  # network time arrives and steps the clock back an hour
    clock.monotonic_s += 5
    c = gate.check("R0003", [make_reading(36.5)])
    assert c.event.clock_state is ClockState.JUMPED_BACK
    assert c.event.seq == 3  # the order is the sequence, not the wall clock
    # after a reboot without network time (Pi with no RTC): no drift check across boots,
    # but the OS says "not synced"
    clock.boot_id, clock.monotonic_s, clock.synced = "boot-2", 12.0, False
    clock.wall_s += 7200
    assert gate.check("R0003", [make_reading(36.5)]).event.clock_state is ClockState.NOT_SYNCED


def test_a_wall_clock_that_runs_away_from_the_monotonic_clock_is_flagged(gate, clock):
    gate.check("R0003", [make_reading(36.5)])
    clock.monotonic_s += 10
    clock.wall_s += 4 * 3600  # a jump forward within the same boot
    assert gate.check("R0003", [make_reading(36.5)]).event.clock_state is ClockState.DRIFTED


def test_a_damaged_database_is_refused_with_the_path_of_the_last_good_backup(tmp_path: Path):
    path = tmp_path / "kiosk.sqlite3"
    s = open_store(path)
    with s.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO meta(key, value) VALUES ('x', 'y')")
    s.close()
    backup = make_backup(path, tmp_path / "backups", force=True)
    assert backup is not None
    with open(path, "r+b") as fh:  # a power cut in the middle of a page write
        fh.seek(0)
        fh.write(b"\x00" * 4096)
    with pytest.raises(StoreCorrupt) as err:
        open_store(path)
    assert str(backup) in str(err.value) and str(path) in str(err.value)
    assert err.value.backup == backup
    # the backup itself is good and opens
    good = open_store(backup, backup_dir=tmp_path / "b2")
    with good.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM meta WHERE key='x'").scalar() == "y"
    good.close()


def test_opening_makes_a_daily_backup_and_keeps_a_week(tmp_path: Path):
    path = tmp_path / "kiosk.sqlite3"
    open_store(path).close()
    assert len(list((tmp_path / "backups").glob("kiosk-*.sqlite3"))) == 1
    open_store(path).close()  # same day: no second backup
    assert len(list((tmp_path / "backups").glob("kiosk-*.sqlite3"))) == 1


def test_a_backup_made_after_the_zone_was_set_back_is_the_one_restored(tmp_path: Path, zone):
    """Backups are named in UTC: on a kiosk set from Asia/Shanghai back to UTC, local names
    sorted the new backup 8 hours before the daily one, so restoring took the older copy
    (and the rotation would have removed the newer first)."""
    zone("Asia/Shanghai")
    path, backups = tmp_path / "kiosk.sqlite3", tmp_path / "backups"
    open_store(path).close()  # the daily backup
    zone("UTC")
    store = open_store(path)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'after')"))
    store.close()
    made = make_backup(path, backups, force=True)
    assert made is not None and latest_backup(backups) == made
    assert sorted(backups.glob("kiosk-*.sqlite3"))[-1] == made
    assert made.name.endswith("Z.sqlite3")


def test_a_backup_named_in_utc_after_the_upgrade_is_newer_than_the_days_local_one(
        tmp_path: Path, zone):
    """Backups made before the names were UTC carry the kiosk's local time: on a kiosk in
    Shanghai, the daily backup of 20:00 (12:00 UTC) and a backup forced at 13:00 UTC the
    same day. As text, "130000Z" sorts before "200000": the restore would take the older
    copy, and the rotation remove the newer first."""
    zone("Asia/Shanghai")
    path, backups = tmp_path / "kiosk.sqlite3", tmp_path / "backups"
    open_store(path, backups).close()
    (daily,) = backups.glob("kiosk-*.sqlite3")
    old_local = daily.with_name("kiosk-20261130-200000.sqlite3")  # as the old code named it
    daily.rename(old_local)
    newer = backups / "kiosk-20261130-130000Z.sqlite3"
    shutil.copyfile(old_local, newer)
    assert latest_backup(backups) == newer
    for i in range(BACKUPS_KEPT):  # older local ones: the rotation removes them first
        shutil.copyfile(old_local, backups / f"kiosk-202611{i + 1:02d}-235959.sqlite3")
    assert make_backup(path, backups, force=True) is not None
    left = {b.name for b in backups.glob("kiosk-*.sqlite3")}
    assert newer.name in left and old_local.name in left
    assert "kiosk-20261101-235959.sqlite3" not in left


def test_pass_numbers_are_matched_whatever_the_case_and_spaces(gate: Gate):
    assert gate.identify("  r0003 ") is not None
    result = gate.check("nobody-9", [make_reading(36.5)])
    assert result.decision.outcome is Outcome.DENY
    assert result.decision.reason is Reason.UNKNOWN_PASS


def test_retention_may_only_wipe_personal_fields_and_the_chain_still_verifies(gate, settings):
    gate.check("R0003", [make_reading(36.5)], direction=Direction.OUT)
    gate.check("W0001", [make_reading(36.5)], direction=Direction.OUT)
    with gate.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE gate_events SET pass_number=NULL, pass_id=NULL, resident_id=NULL, "
            "household=NULL, note='' WHERE seq=1")
    with gate.store.engine.connect() as conn:
        with pytest.raises(Exception, match="append-only"):
            conn.exec_driver_sql("UPDATE gate_events SET pass_number=NULL, direction='in' "
                                 "WHERE seq=2")
        with pytest.raises(Exception, match="append-only"):
            conn.exec_driver_sql("UPDATE gate_events SET pass_number='R0001' WHERE seq=2")
        row = conn.exec_driver_sql(
            "SELECT direction, outcome, pass_kind, pass_number FROM gate_events WHERE seq=1").one()
    assert tuple(row) == ("out", "allow", "resident", None)  # the counts survive
    assert verify_chain(gate.store.engine, settings.device.id) == []


def test_every_event_is_queued_for_the_central_store_in_the_same_transaction(gate):
    events = [gate.check(n, [make_reading(36.5)]).event for n in ("R0003", "NOPE", "W0001")]
    with gate.store.engine.connect() as conn:
        queued = conn.exec_driver_sql("SELECT event_id, seq FROM outbox ORDER BY seq").all()
    assert [tuple(q) for q in queued] == [(e.id, e.seq) for e in events]


def test_a_visitor_is_registered_with_the_same_temperature_step(gate: Gate):
    from kiosk.store.events import Visitor

    courier = Visitor("刘快递", "13912345678", "送药", "3")
    first = gate.register_visitor(courier, [make_reading(37.6)])
    assert first.decision.outcome is Outcome.REMEASURE
    ok = gate.register_visitor(courier, [make_reading(37.6), make_reading(36.9)])
    assert ok.decision.allowed
    with gate.store.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT visitor_name, visitor_phone, visitor_reason, host_building, pass_kind, "
            "identified_by FROM gate_events WHERE seq=2").one()
    assert tuple(row) == ("刘快递", "13912345678", "送药", "3", "visitor", "visitor")
    with pytest.raises(GateError):
        gate.register_visitor(Visitor("  "), [make_reading(36.5)])


@pytest.mark.parametrize("way", ["kernel notices", "directory mtime"])
def test_an_unenrolled_kiosk_looks_for_the_key_only_once_enrolment_may_have_added_it(
        way: str, monkeypatch: pytest.MonkeyPatch, loaded_store, settings, clock):
    """An unenrolled kiosk does not open device.key at every movement: it remembers the
    key was absent until the data directory changes, and the key linked in at enrolment
    (by another process) signs the next event. With the kernel's notices (Linux) that is
    the very next one; without them, the first after the directory's mtime moved."""
    import os
    import time

    from kiosk.store import db as store_db
    from kiosk.store import events as store_events
    from kiosk.store.devicekey import ensure_key

    if way == "directory mtime":
        monkeypatch.setattr(store_db, "_directory_notices", lambda directory: None)
    looked: list[Path] = []
    load_key = store_events.load_key
    monkeypatch.setattr(store_events, "load_key",
                        lambda path: looked.append(path) or load_key(path))
    data_dir = loaded_store.path.parent
    old = time.time_ns() - 60 * 10**9
    os.utime(data_dir, ns=(old, old))  # a kiosk that has run for a while
    gate = Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: clock.synced)
    try:
        for number in ("R0001", "R0003", "W0001"):  # unsigned: no key, its absence kept
            gate.check(number, [make_reading(36.5)])
        assert len(looked) == 1
        ensure_key(data_dir)  # `kiosk sync enrol`, as another process does it
        # the link's change of the directory's mtime falls within its last coarse tick
        os.utime(data_dir, ns=(old, old))
        gate.check("R0003", [make_reading(36.5)])  # the kernel told; the mtime did not
        os.utime(data_dir)  # the mtime moves on
        gate.check("R0001", [make_reading(36.5)])
        gate.check("R0003", [make_reading(36.5)])
    finally:
        gate.close()
    with loaded_store.db.read() as con:
        signed = [s is not None for (s,) in con.execute(
            "SELECT signature FROM gate_events ORDER BY seq")]
    first_signed = 3 if way == "kernel notices" else 4
    assert signed == [False] * first_signed + [True] * (6 - first_signed)
    assert len(looked) == 2  # once at the start, once after the key was linked in
    assert verify_chain(loaded_store.engine, settings.device.id) == []


def test_two_writers_on_one_file_keep_one_chain(gate: Gate, loaded_store, settings, clock):
    """Each writer remembers its last event instead of reading it back (kiosk.store.events):
    another writer on the same file (its own connection, as another process has) appending
    in between must not fork the chain nor reuse a sequence number."""
    other = Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: clock.synced)
    try:
        seqs = []
        for writer, number in ((gate, "R0003"), (other, "R0001"), (gate, "R0003"),
                               (gate, "W0001"), (other, "R0001"), (gate, "R0003")):
            clock.advance(1)
            seqs.append(writer.check(number, [make_reading(36.5)],
                                     direction=Direction.IN).event.seq)
    finally:
        other.close()
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert verify_chain(gate.store.engine, settings.device.id) == []


def test_an_event_rolled_back_is_not_what_the_next_one_chains_to(loaded_store, settings,
                                                                 clock):
    """The remembered last event is the last one committed, not the last one appended."""
    writer = EventWriter(loaded_store.path, background_checkpoints=False)
    movement = Movement(checkpoint="north", direction=Direction.IN,
                        decision=Decision(Outcome.ALLOW, Reason.OK),
                        readings=[make_reading(36.5)], policy=settings.policy(),
                        identified_by="cli")
    try:
        assert writer.record(settings.device.id, movement, clock.sample(), True).seq == 1
        with pytest.raises(RuntimeError), writer.transaction() as con:
            writer.append(con, settings.device.id, movement, clock.sample(), True)
            raise RuntimeError("the decision's caller failed after the append")
        assert writer.record(settings.device.id, movement, clock.sample(), True).seq == 2
    finally:
        writer.close()
    assert verify_chain(loaded_store.engine, settings.device.id) == []
