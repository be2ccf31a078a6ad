"""The kiosk's own storage under faults: a full disk during the daily backup, a database or
WAL file removed or replaced under the running kiosk. A record the kiosk reports must last,
and a backup it names must restore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from disk_testing import fill, remount, small_disk
from kiosk_testing import FakeClock, run_kiosk
from sqlalchemy import text

from kiosk.core.screening import ReadingSource, make_reading
from kiosk.gate import Gate
from kiosk.settings import Settings
from kiosk.store import db as store_db
from kiosk.store.db import (
    BackupFailed,
    Store,
    StoreCorrupt,
    StoreReplaced,
    integrity_problem,
    latest_backup,
    make_backup,
    open_store,
)
from kiosk.store.importer import import_roster
from kiosk.ui.i18n import tr
from kiosk.ui.vm.base import InlineRunner
from kiosk.ui.vm.flow import GateFlow, Phase


def _events(path: Path) -> int:
    s = open_store(path, path.parent / "b-check")
    try:
        with s.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM gate_events")).scalar_one())
    finally:
        s.close()


def test_a_backup_cut_short_by_a_full_disk_leaves_nothing_and_is_retried_at_the_next_start(
        tmp_path: Path, roster_file: Path):
    path = tmp_path / "kiosk.sqlite3"
    s = open_store(path, tmp_path / "first-backups")
    import_roster(s.engine, roster_file)
    with s.engine.begin() as conn:  # a database bigger than the backup disk
        conn.execute(text("CREATE TABLE ballast (b BLOB)"))
        conn.execute(text("INSERT INTO ballast VALUES (zeroblob(600000))"))
    s.close()
    with small_disk(tmp_path / "usb", 256) as disk:
        backups = disk / "backups"
        store = open_store(path, backups)  # the kiosk still starts
        try:
            assert store.backup_problem is not None and "full" in store.backup_problem
        finally:
            store.close()
        assert list(backups.iterdir()) == []  # no empty or half backup left behind
        with pytest.raises(BackupFailed, match="full"):
            make_backup(path, backups, force=True)
        assert list(backups.iterdir()) == []
        remount(disk, 4096)  # space is freed: the very next start makes the day's backup
        store = open_store(path, backups)
        store.close()
        (made,) = backups.iterdir()
        assert store.backup_problem is None and made.name.endswith(".sqlite3")
        assert integrity_problem(made) is None and made.stat().st_size > 600000


def test_the_damage_message_names_the_newest_backup_that_verifies(tmp_path: Path):
    path = tmp_path / "kiosk.sqlite3"
    backups = tmp_path / "backups"
    open_store(path, backups).close()
    (good,) = backups.iterdir()
    (backups / "kiosk-20991231-235959.sqlite3").write_bytes(b"")  # the old code's empty one
    (backups / "kiosk-20991231-235958.sqlite3").write_bytes(b"SQLite format 3\0" + b"x" * 99)
    with open(path, "r+b") as fh:
        fh.write(b"\x00" * 4096)
    with pytest.raises(StoreCorrupt) as err:
        open_store(path, backups)
    assert err.value.backup == good and str(good) in str(err.value)
    assert latest_backup(backups) == good


def test_an_empty_backup_does_not_count_as_the_days_backup(tmp_path: Path):
    path, backups = tmp_path / "kiosk.sqlite3", tmp_path / "backups"
    backups.mkdir()
    (backups / "kiosk-20991231-235959.sqlite3").write_bytes(b"")
    open_store(path, backups).close()
    assert len([b for b in backups.iterdir() if b.stat().st_size > 0]) == 1


def _check(gate: Gate, number: str = "R0001") -> None:
    gate.check(number, [make_reading(36.5)])


@pytest.fixture(params=["kernel notices", "stat every write"])
def watched_gate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                 loaded_store: Store, settings: Settings, clock: FakeClock) -> Gate:
    """A gate whose file watch hears of changes from the kernel (Linux's inotify), and one
    that looks at the files at every write (another OS, or no inotify watch left)."""
    if request.param == "stat every write":
        monkeypatch.setattr(store_db, "_directory_notices", lambda directory: None)
    return Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: clock.synced)


@pytest.mark.parametrize("attack", ["remove_wal", "replace_db", "remove_db", "move_dir"])
def test_a_database_file_removed_under_the_kiosk_stops_recording(watched_gate: Gate,
                                                                 attack: str):
    gate = watched_gate
    path = gate.store.path
    wal = path.with_name(path.name + "-wal")
    for _ in range(3):
        _check(gate)
    if attack == "remove_wal":
        wal.unlink()
    elif attack == "remove_db":
        path.unlink()
    elif attack == "move_dir":  # the whole data directory "tidied away"
        path.parent.rename(path.parent.with_name("old-data"))
        path = path.parent.with_name("old-data") / path.name
    else:
        copy = path.with_name("copy.sqlite3")
        copy.write_bytes(path.read_bytes())
        os.replace(copy, path)
    for _ in range(2):  # refused every time, never a success that would be lost
        with pytest.raises(StoreReplaced) as err:
            _check(gate)
        assert err.value.key == "store_replaced"
    gate.close()
    gate.store.close()
    if attack != "remove_db":
        assert _events(path) <= 3  # nothing was reported that is not there


def test_with_the_kernels_notices_a_write_looks_at_the_files_only_when_they_changed(
        gate: Gate, monkeypatch: pytest.MonkeyPatch):
    """What keeps the watch off the write's cost (docs/BENCHMARKS.md): a stat of the WAL
    in a durable write costs it 40-50 µs here. Linux only, where the kiosk runs."""
    looked: list[str] = []
    identity = store_db._identity

    def counted(path: str) -> tuple[int, int]:
        looked.append(path)
        return identity(path)

    monkeypatch.setattr(store_db, "_identity", counted)
    for _ in range(5):
        _check(gate)
    assert len(looked) == 2  # the first write's look at both files, then none
    (gate.store.path.parent / "export.csv").write_text("x")  # other names: not looked at
    _check(gate)
    assert len(looked) == 2
    wal = gate.store.path.with_name(gate.store.path.name + "-wal")
    wal.unlink()
    with pytest.raises(StoreReplaced):
        _check(gate)
    assert looked[-1] == str(wal.resolve())
    gate.close()


def test_sqlite_recreating_its_wal_is_not_an_alarm(loaded_store, settings, clock):
    """All connections closed: SQLite removes the WAL itself and makes a new one later."""
    gate = Gate(loaded_store, settings, clock=clock.sample)
    _check(gate)
    gate.close()
    loaded_store.engine.dispose()
    wal = loaded_store.path.with_name(loaded_store.path.name + "-wal")
    assert not wal.exists()
    gate = Gate(loaded_store, settings, clock=clock.sample)
    _check(gate)
    gate.close()
    assert _events(loaded_store.path) == 2


# --- the gate screen's view model and the CLI on a real full disk ------------------------------
def _flow(gate: Gate) -> GateFlow:
    tick = iter(range(1000, 10**6))
    f = GateFlow(gate, InlineRunner(), clock=lambda: float(next(tick)), remeasure_wait_s=5.0)
    f.set_thermometer_state("connected")
    return f


def _one_person(flow: GateFlow, number: str = "R0003") -> None:
    flow.present(number, "scanner")
    assert flow.phase is Phase.MEASURING, flow.message
    flow.on_reading(make_reading(36.5, source=ReadingSource.DEVICE,
                                 taken_monotonic=flow.clock() + 0.5))


def test_the_gate_screen_turns_red_and_stays_red_when_the_wal_is_removed(gate: Gate):
    flow = _flow(gate)
    _one_person(flow)
    assert flow.phase is Phase.RESULT and flow.result is not None and flow.result.allowed
    flow.dismiss()
    wal = gate.store.path.with_name(gate.store.path.name + "-wal")
    wal.unlink()
    _one_person(flow, "R0001")
    assert flow.phase is not Phase.RESULT  # never a green screen for a record that is lost
    assert flow.message is not None and flow.message[0] == "store_replaced"
    assert flow.stopped == "store_replaced"
    flow.present("R0002", "scanner")  # nobody else is taken on either
    assert flow.message[0] == "store_replaced"
    assert flow.person is None or flow.person.number != "R0002"
    assert tr("store_replaced", "zh").endswith("请使用纸质登记并重启")
    gate.close()


def test_a_full_disk_shows_use_the_paper_register_never_a_green_screen(
        tmp_path: Path, settings, roster_file: Path):
    with small_disk(tmp_path / "disk", 1024) as disk:
        store = open_store(disk / "kiosk.sqlite3")
        import_roster(store.engine, roster_file)
        gate = Gate(store, settings)
        flow = _flow(gate)
        _one_person(flow)
        assert flow.phase is Phase.RESULT
        flow.dismiss()
        with store.engine.connect() as conn:  # the next commit must grow the WAL
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        fill(disk)
        shown = 1
        # the WAL may keep space it had before (a checkpoint that found a reader cannot
        # truncate it), so people keep fitting for a while: go on until the disk says full
        for number in ("R0001", "R0002", "R0003", "W0001") * 100:
            _one_person(flow, number)
            if flow.phase is not Phase.RESULT:
                break
            shown += 1  # it fitted in space the disk still had: recorded for real
            flow.dismiss()
        assert flow.message is not None and flow.message[0] == "disk_full"
        assert tr("disk_full", "zh") == "磁盘已满：请使用纸质登记"
        assert _count(store) == shown  # every result shown is recorded, and only those
        gate.close()
        store.close()


def _count(store) -> int:  # noqa: ANN001
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM gate_events")).scalar_one())


def test_kiosk_check_on_a_full_disk_says_so_without_a_traceback_and_stores_nothing(
        tmp_path: Path, roster_file: Path):
    with small_disk(tmp_path / "disk", 1024) as disk:
        data = disk / "kiosk-data"
        store = open_store(data / "kiosk.sqlite3")
        import_roster(store.engine, roster_file)
        store.close()
        fill(disk)
        r = run_kiosk(data, "check", "R0001", "--temp", "36.5")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "Traceback" not in r.stderr and "disk is full" in r.stderr, r.stderr
        assert "paper register" in r.stderr
        (disk / "filler").unlink()
        store = open_store(data / "kiosk.sqlite3")
        assert _count(store) == 0  # the refused check left nothing half-written
        store.close()
