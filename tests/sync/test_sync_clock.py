"""A kiosk whose clock is wrong is seen: the central store measures each kiosk's clock at
every contact and the dashboard shows it; the kiosk's ``sync status`` says so too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from click.testing import CliRunner
from sqlalchemy import select
from sync_testkit import CentralServer, Kiosk

from kiosk.cli import main
from kiosk.server import admin
from kiosk.server.ingest import DEV
from kiosk.sync.client import SyncClient
from kiosk.sync.runner import Syncer

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _sync_with_clock(k: Kiosk, skew: timedelta) -> None:
    client = SyncClient(k.server_url, k.secret, clock=lambda: datetime.now(UTC) + skew)
    try:
        Syncer(k.store.engine, k.data_dir, k.settings.device.id, client).run()
    finally:
        client.close()


def _offset_at_server(central: CentralServer, k: Kiosk) -> float:
    with central.engine.connect() as conn:
        return conn.execute(select(DEV.c.clock_offset_s)
                            .where(DEV.c.id == k.settings.device.id)).scalar_one()


def test_a_kiosk_clock_that_is_off_shows_on_the_dashboard_and_at_the_kiosk(
        central: CentralServer, kiosks: list[Kiosk]):
    fast, good = kiosks
    fast.check("R1", "out")
    _sync_with_clock(fast, timedelta(minutes=12))
    good.sync()
    assert abs(_offset_at_server(central, fast) - 720) < 5
    assert abs(_offset_at_server(central, good)) < 5

    r = CliRunner().invoke(main, ["--data-dir", str(fast.data_dir), "sync", "status"])
    assert r.exit_code == 0 and "clock:        WRONG: 快 12 分钟 / 12 min fast" in r.output
    r = CliRunner().invoke(main, ["--data-dir", str(good.data_dir), "sync", "status"])
    assert "clock:        ok" in r.output

    admin.add_user(central.engine, "时钟", "correct horse battery")
    with httpx.Client(base_url=central.url) as web:
        web.post("/login", data={"user": "时钟", "password": "correct horse battery"})
        page = web.get("/").text
    devices = page[page.index('id="devices"'):page.index('id="findings"')]
    row_fast = devices[devices.index(fast.name):].split("</tr>")[0]
    row_good = devices[devices.index(good.name):].split("</tr>")[0]
    assert "⚠ 快 12 分钟 / 12 min fast" in row_fast
    assert "<td>正常 / ok</td>" in row_good and "⚠" not in row_good

    _sync_with_clock(fast, timedelta(0))  # the time was set: the warning goes away
    assert abs(_offset_at_server(central, fast)) < 5


def test_a_clock_set_right_measures_zero_not_the_old_offset(kiosks: list[Kiosk]):
    """A kiosk whose time was set while it ran: the next answer measures 0.0 s, and 0.0 is a
    measurement (the old offset of 12 minutes must not stay as if nothing was measured)."""
    k = kiosks[0]
    skew = [timedelta(minutes=12)]
    # whole seconds, like the server's Date header: a right clock then measures exactly 0.0
    client = SyncClient(k.server_url, k.secret,
                        clock=lambda: datetime.now(UTC).replace(microsecond=0) + skew[0])
    try:
        Syncer(k.store.engine, k.data_dir, k.settings.device.id, client).run()
        assert client.clock_offset_s is not None and abs(client.clock_offset_s - 720) < 5
        measured = []
        for attempt in range(6):
            # uvicorn's Date header is refreshed once a second: a right clock measures 0.0 or
            # 1.0 s ahead, as the second turned or not; try both sides of the boundary
            skew[0] = timedelta(seconds=-(attempt % 2))
            Syncer(k.store.engine, k.data_dir, k.settings.device.id, client).run()
            measured.append(client.clock_offset_s)
            if measured[-1] == 0.0:
                break
        assert measured[-1] == 0.0, measured
    finally:
        client.close()
