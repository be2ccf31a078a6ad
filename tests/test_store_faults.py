"""The kiosk's own storage under faults: a full disk during the daily backup, a database or
WAL file removed or replaced under the running kiosk. A record the kiosk reports must last,
and a backup it names must restore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from disk_testing import remount, small_disk
from sqlalchemy import text

from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.store.db import (
    BackupFailed,
    StoreCorrupt,
    StoreReplaced,
    integrity_problem,
    latest_backup,
    make_backup,
    open_store,
)
from kiosk.store.importer import import_roster


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


@pytest.mark.parametrize("attack", ["remove_wal", "replace_db", "remove_db"])
def test_a_database_file_removed_under_the_kiosk_stops_recording(gate: Gate, attack: str):
    path = gate.store.path
    wal = path.with_name(path.name + "-wal")
    for _ in range(3):
        _check(gate)
    if attack == "remove_wal":
        wal.unlink()
    elif attack == "remove_db":
        path.unlink()
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
