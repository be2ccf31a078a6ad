"""Shared fixtures: every test gets its own data directory with a real SQLite file."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

os.environ.setdefault("KIVY_NO_ARGS", "1")
# test kits imported by test modules (and also loaded as plugins): their asserts explain
# themselves too
pytest.register_assert_rewrite("sync_testkit", "ui_testkit", "export_testing")

from kiosk_testing import FakeClock  # noqa: E402

from kiosk import settings as settings_mod  # noqa: E402
from kiosk.gate import Gate  # noqa: E402
from kiosk.settings import Settings  # noqa: E402
from kiosk.store.db import Store, open_store  # noqa: E402
from kiosk.store.importer import import_roster  # noqa: E402

TODAY = date.today()
ROSTER_HEADER = (
    "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
)


def roster_line(name: str, building: str, unit: str, room: str, number: str,
                kind: str = "resident", household: str = "", phone: str = "13800000000",
                valid_from: date | None = None, valid_to: date | None = None) -> str:
    vf = valid_from or TODAY - timedelta(days=10)
    vt = valid_to or TODAY + timedelta(days=10)
    return f"{name},{building},{unit},{room},{household},{phone},{number},{kind},{vf},{vt}\n"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "kiosk-data"
    d.mkdir()
    return d


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    s = settings_mod.load(data_dir)
    return s


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    s = open_store(data_dir / "kiosk.sqlite3")
    yield s
    s.close()


@pytest.fixture
def roster_file(tmp_path: Path) -> Path:
    """A small compound: two households in building 3, a railway worker, a supplier, and
    passes that are expired, not yet valid."""
    p = tmp_path / "roster.csv"
    p.write_text(
        ROSTER_HEADER
        + roster_line("张三明", "3", "1", "402", "R0001", household="3-1-402")
        + roster_line("李四", "3", "1", "402", "R0002", household="3-1-402")
        + roster_line("王五", "3", "2", "101", "R0003", household="3-2-101")
        + roster_line("赵铁路", "7", "1", "201", "W0001", kind="worker", household="7-1-201")
        + roster_line("钱送货", "", "", "", "S0001", kind="supplier")
        + roster_line("孙过期", "5", "1", "101", "R0004",
                      valid_to=TODAY - timedelta(days=1))
        + roster_line("周未到", "5", "1", "102", "R0005",
                      valid_from=TODAY + timedelta(days=1)),
        encoding="utf-8",
    )
    return p


@pytest.fixture
def loaded_store(store: Store, roster_file: Path) -> Store:
    report = import_roster(store.engine, roster_file)
    assert report.committed and not report.rejected
    return store


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Sets this process's zone (TZ; child processes inherit it), as an admin changing the
    Pi's zone would; put back after the test."""
    import time

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def clock() -> FakeClock:
    import time

    return FakeClock(wall_s=time.time())


@pytest.fixture
def gate(loaded_store: Store, settings: Settings, clock: FakeClock) -> Gate:
    return Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: clock.synced)


@pytest.fixture
def imported_dir(data_dir: Path, roster_file: Path) -> Path:
    """A data directory whose roster was imported through the real CLI."""
    from kiosk_testing import run_kiosk

    r = run_kiosk(data_dir, "residents", "import", str(roster_file))
    assert r.returncode == 0, r.stderr
    return data_dir
