"""The nightly schedule: which nights are due, catch-up after the kiosk was off, the USB copy,
and failures reported to the gate screen's listener."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from export_testing import Traffic, make_traffic

from kiosk.export.nightly import last_exported
from kiosk.export.scheduler import (
    USB_FOLDER,
    ExportScheduler,
    ExportStatus,
    due_dates,
    usb_targets,
)

T22 = time(22, 0)
D = date(2026, 2, 10)


@pytest.fixture
def traffic(loaded_store, settings, clock) -> Traffic:
    return make_traffic(loaded_store, settings, clock)


def test_today_is_due_only_from_the_configured_time():
    assert due_dates(D - timedelta(days=1), T22, datetime(2026, 2, 10, 21, 59)) == []
    assert due_dates(D - timedelta(days=1), T22, datetime(2026, 2, 10, 22, 0)) == [D]
    assert due_dates(D, T22, datetime(2026, 2, 10, 23, 0)) == []


def test_missed_nights_are_caught_up_oldest_first():
    got = due_dates(D - timedelta(days=4), T22, datetime(2026, 2, 10, 9, 0))
    assert got == [D - timedelta(days=3), D - timedelta(days=2), D - timedelta(days=1)]


def test_a_first_run_starts_at_the_first_event_and_catch_up_is_bounded():
    assert due_dates(None, T22, datetime(2026, 2, 10, 9, 0)) == [D - timedelta(days=1)]
    got = due_dates(None, T22, datetime(2026, 2, 10, 23, 0), first_day=D - timedelta(days=2))
    assert got == [D - timedelta(days=2), D - timedelta(days=1), D]
    got = due_dates(date(2025, 1, 1), T22, datetime(2026, 2, 10, 23, 0), max_days=5)
    assert got == [D - timedelta(days=i) for i in range(4, -1, -1)]


def _usb(tmp_path: Path) -> tuple[Path, str]:
    stick = tmp_path / "media" / "volunteer" / "KINGSTON"
    stick.mkdir(parents=True)
    return stick, str(tmp_path / "media" / "*" / "*")


def test_usb_targets_are_the_mounted_writable_media(tmp_path: Path):
    stick, pattern = _usb(tmp_path)
    (tmp_path / "media" / "volunteer" / "not-a-dir").write_text("x")
    assert usb_targets([pattern], is_mount=lambda p: True) == [stick]
    assert usb_targets([pattern], is_mount=lambda p: False) == []
    assert usb_targets([str(tmp_path / "nothing" / "*")]) == []


def test_scheduler_catches_up_missed_nights_and_copies_to_usb(traffic: Traffic, data_dir,
                                                             tmp_path: Path):
    stick, pattern = _usb(tmp_path)
    s = traffic.settings
    s.export.usb_roots = [pattern]
    now = datetime.combine(traffic.day + timedelta(days=2), time(9, 30))  # device was off
    sched = ExportScheduler(traffic.store.engine, s, data_dir, now=lambda: now,
                            is_mount=lambda p: True)
    seen: list[ExportStatus] = []
    sched.on_status(seen.append)
    sched.run_once()
    assert [x.day for x in seen] == [traffic.day, traffic.day + timedelta(days=1)]
    assert all(x.ok for x in seen) and "exported" in seen[0].message_en
    assert last_exported(traffic.store.engine) == traffic.day + timedelta(days=1)
    for x in seen:
        local = data_dir / "exports" / x.day.isoformat()
        (copy,) = x.usb_copies
        assert copy == stick / USB_FOLDER / x.day.isoformat()
        names = sorted(p.name for p in local.iterdir())
        assert names == sorted(p.name for p in copy.iterdir()) and len(names) == 4
        for name in names:
            assert hashlib.sha256((copy / name).read_bytes()).digest() == \
                hashlib.sha256((local / name).read_bytes()).digest()
    assert sched.run_once() == []  # nothing more is due before 22:00
    now = now.replace(hour=22, minute=5)
    assert [x.day for x in sched.run_once()] == [traffic.day + timedelta(days=2)]


def test_a_failed_night_is_reported_and_retried(traffic: Traffic, data_dir, tmp_path: Path):
    s = traffic.settings
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    s.export.out_dir = str(blocker)
    s.export.usb_roots = []
    now = datetime.combine(traffic.day, time(22, 30))
    sched = ExportScheduler(traffic.store.engine, s, data_dir, now=lambda: now)
    seen: list[ExportStatus] = []
    sched.on_status(seen.append)
    sched.on_status(lambda st: 1 / 0)  # a broken listener does not stop the others
    sched.run_once()
    (failed,) = seen
    assert not failed.ok and failed.day == traffic.day and "导出失败" in failed.message_zh
    assert last_exported(traffic.store.engine) is None
    s.export.out_dir = str(tmp_path / "exports")  # the admin fixes it
    (retried,) = sched.run_once()
    assert retried.ok and retried.day == traffic.day


def test_the_thread_starts_reports_and_stops(traffic: Traffic, data_dir):
    traffic.settings.export.usb_roots = []
    now = datetime.combine(traffic.day, time(23, 0))
    sched = ExportScheduler(traffic.store.engine, traffic.settings, data_dir,
                            now=lambda: now, poll_s=0.05)
    done = threading.Event()
    sched.on_status(lambda st: done.set())
    sched.start()
    try:
        assert done.wait(20)
    finally:
        sched.stop()
    assert last_exported(traffic.store.engine) == traffic.day
