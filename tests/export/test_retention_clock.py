"""Retention with a wrong clock: the purge's cutoff comes from the clock, so a clock set
60 days ahead once wiped today's records. Every way the clock can be shown wrong refuses the
purge, and nothing is wiped."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from export_testing import Traffic, at, check, make_traffic
from kiosk_testing import FakeClock

from kiosk.core.clock import ClockSample
from kiosk.gate import Gate
from kiosk.store.events import PERSONAL_FIELDS
from kiosk.store.retention import ClockNotTrusted, purge
from kiosk.sync import state

DAY_S = 86400.0


@pytest.fixture
def today_traffic(loaded_store, settings, clock: FakeClock) -> Traffic:
    """A day of traffic (3 days ago) and then, today, one more person at the gate."""
    t = make_traffic(loaded_store, settings, clock)
    clock.wall_s, clock.monotonic_s, clock.boot_id = time.time() - 600, 5000.0, "boot-2"
    t.gate = Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: True)
    check(t, "R0003", 36.5, direction="in")
    t.gate.close()
    return t


def personal_left(t: Traffic) -> int:
    cond = " OR ".join(f"({c} IS NOT NULL AND {c} != '')" for c in PERSONAL_FIELDS)
    with t.store.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM gate_events WHERE {cond}")
                   .scalar_one())


def test_a_clock_60_days_ahead_after_a_reboot_wipes_nothing(today_traffic: Traffic):
    before = personal_left(today_traffic)
    ahead = ClockSample(time.time() + 60 * DAY_S, 10.0, "boot-3")
    with pytest.raises(ClockNotTrusted, match="would wipe every record"):
        purge(today_traffic.store.engine, 28, clock=ahead, os_synced=True)
    assert personal_left(today_traffic) == before


def test_a_clock_moved_ahead_in_the_same_boot_is_refused_even_when_confirmed(
        today_traffic: Traffic):
    c = today_traffic.clock  # the boot of the newest event: 1 hour passed, 60 days shown
    moved = ClockSample(c.wall_s + 60 * DAY_S, c.monotonic_s + 3600, c.boot_id)
    with pytest.raises(ClockNotTrusted, match="it was changed"):
        purge(today_traffic.store.engine, 28, clock=moved, os_synced=True,
              clock_is_right=True)


def test_a_clock_behind_the_newest_event_is_refused(today_traffic: Traffic):
    behind = ClockSample(today_traffic.clock.wall_s - 2 * DAY_S, 1.0, "boot-9")
    with pytest.raises(ClockNotTrusted, match="clock is behind"):
        purge(today_traffic.store.engine, 1, clock=behind, os_synced=True,
              clock_is_right=True)


def test_a_clock_the_last_sync_found_off_is_refused(today_traffic: Traffic):
    state.record(today_traffic.store.engine, **state.clock_offset(45 * DAY_S))
    with pytest.raises(ClockNotTrusted, match="45 days fast"):
        purge(today_traffic.store.engine, 2, clock=ClockSample(time.time(), 1.0, "boot-9"),
              os_synced=True)


def test_an_unsynchronised_clock_needs_the_admins_word(today_traffic: Traffic):
    engine, before = today_traffic.store.engine, personal_left(today_traffic)
    now = ClockSample(time.time(), 1.0, "boot-9")
    with pytest.raises(ClockNotTrusted, match="not synchronised"):
        purge(engine, 2, clock=now, os_synced=False)
    assert personal_left(today_traffic) == before
    report = purge(engine, 2, clock=now, os_synced=False, clock_is_right=True)
    assert report.days == [today_traffic.day] and personal_left(today_traffic) == 1


def test_a_right_clock_purges_the_old_days_and_keeps_today(today_traffic: Traffic):
    now = ClockSample(time.time(), 1.0, "boot-9")
    report = purge(today_traffic.store.engine, 2, clock=now, os_synced=True)
    assert report.days == [today_traffic.day] and personal_left(today_traffic) == 1
    assert report.cutoff == datetime.fromtimestamp(now.wall_s).date() - timedelta(days=2)
    assert at(today_traffic.day, 8) < now.wall_s
