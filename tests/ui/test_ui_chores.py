"""A kiosk runs for days: the running app makes the day's backup every day, not only when it
starts, and writes the nightly export when it is due, on its own clock (kiosk.ui.services.
Chores, every minute in the product; every half second here)."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import pytest
from ui_testkit import kiosk, passes, sim, wait_until, xvfb  # noqa: F401 - fixtures

from kiosk import settings as settings_mod


def test_the_running_app_backs_up_every_day_and_exports_when_due(
        kiosk, data_dir: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    monkeypatch.setenv("KIOSK_TEST_CHORES_S", "0.5")
    settings_mod.update(data_dir, lambda s: setattr(s.export, "time", "00:00"))
    app = kiosk()  # the data directory was prepared (with its first backup)
    # the nightly export of today, due since 00:00: written while the app runs
    day = date.today().isoformat()
    wait_until(lambda: list((data_dir / "exports" / day).glob(f"manifest_*_{day}.json")), 30,
               "the scheduled export")
    # a day later (the backups aged by 25 hours), still running: a new backup
    backups = data_dir / "backups"
    day_ago = time.time() - 25 * 3600
    for b in backups.glob("kiosk-*.sqlite3"):
        os.utime(b, (day_ago, day_ago))
    wait_until(lambda: any(b.stat().st_mtime > day_ago + 3600
                           for b in backups.glob("kiosk-*.sqlite3")), 30, "the daily backup")
    assert app.state()["ready"]
