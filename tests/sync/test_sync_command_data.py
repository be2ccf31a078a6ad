"""What the command's dashboard knows of its gates, with real kiosks syncing to a real
``kiosk serve`` (SQLite and PostgreSQL).

* The kept counts (kiosk.server.tallies) equal a recount from the events, whatever arrived
  how: an undone exit, a batch sent twice, a quota conflict between two gates, a correction
  stored before the movement it undoes, retention wiping old days.
* Each gate's data age: the kiosk knows how old its roster, revocations and keys are,
  reports it with its uploads, and the dashboard lists gates whose data is old."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, select, update
from sync_testkit import CentralServer, Kiosk, backend, central, kiosks  # noqa: F401

from kiosk.server import retention, tallies
from kiosk.server.db import Partitions
from kiosk.server.ingest import EV, Ingest
from kiosk.server.tallies import DAYS, HOURS, KEPT, LAST, OUT
from kiosk.server.web import queries
from kiosk.server.web.queries import Scope
from kiosk.server.web.settings import DashboardSettings
from kiosk.sync import state
from kiosk.sync.runner import SyncReport
from kiosk.ui.vm.status import data_age_status

UTC_VIEW = DashboardSettings(ZoneInfo("UTC"))


def _kept(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}


def _recounted(engine: Engine) -> dict[str, set[tuple[Any, ...]]]:
    """What ``tallies.rebuild`` makes of the same events (rolled back afterwards)."""
    with engine.connect() as conn:
        tx = conn.begin()
        tallies.rebuild(conn)
        out = {t.name: {tuple(r) for r in conn.execute(select(t))} for t in KEPT}
        tx.rollback()
    return out


def _mine(kept: dict[str, set[tuple[Any, ...]]], compound: str
          ) -> dict[str, set[tuple[Any, ...]]]:
    """The rows of one compound (the module's server is shared by tests)."""
    return {name: {r for r in rows if compound in r} if name != "undone_events" else rows
            for name, rows in kept.items()}


def test_kept_counts_equal_a_recount_after_undo_resend_and_quota_conflict(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1, gate2 = kiosks
    compound = gate1.compound
    # two gates each let household 1-1-101 out once (R1, R2): a quota conflict
    out = gate1.check("R1", "out")
    sent = [out, gate1.check("R3", "out"), gate1.check("W1", "out")]
    undone = gate1.check("W1", "in")
    sent += [undone, gate1.gate.undo(undone.event.id)]  # W1 did not come back in after all
    gate2.check("R2", "out")
    gate2.check("R3", "in")
    gate2.check("nobody", "in")  # a denial
    for k in kiosks:
        assert k.sync().sent
    # a batch sent again (a lost acknowledgement) counts nothing twice
    Ingest(central.engine).ingest(gate1.settings.device.id, [r.event for r in sent])

    kept = _mine(_kept(central.engine), compound)
    assert kept == _mine(_recounted(central.engine), compound)
    assert central.findings(compound, "quota_conflict")
    v = queries.view(central.engine, UTC_VIEW, Scope(compound), out.event.local_date)
    assert (v.total.moves_out, v.total.moves_in, v.total.denials) == (4, 1, 1)
    # out now: R1 (gate-1), R2 (gate-2) and W1, whose return was undone; R3 came back
    with central.engine.connect() as conn:
        assert sorted((o.pass_number, o.checkpoint) for o in queries.out_now_page(
            conn, UTC_VIEW, Scope(compound), out.event.local_date, 0, 10)) == [
            ("R1", "gate-1"), ("R2", "gate-2"), ("W1", "gate-1")]


def test_a_correction_stored_before_its_movement_keeps_it_uncounted(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    moved = gate1.check("R1", "out")
    correction = gate1.gate.undo(moved.event.id)
    ingest = Ingest(central.engine)
    device = gate1.settings.device.id
    ingest.ingest(device, [correction.event])  # the correction first (seq 1 missing)
    ingest.ingest(device, [moved.event])
    kept = _mine(_kept(central.engine), gate1.compound)
    assert kept == _mine(_recounted(central.engine), gate1.compound)
    assert not kept["last_movements"]
    assert all(r[4:6] == (0, 0) for r in kept["gate_hours"])  # no movement counted


def test_retention_takes_the_wiped_days_out_of_who_is_out_and_keeps_the_counts(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    gate1.check("R1", "out")
    assert gate1.sync().sent
    compound = gate1.compound
    old = date.today() - timedelta(days=40)
    Partitions(central.engine).ensure([old])
    with central.engine.begin() as conn:  # as if it had happened 40 days ago
        for t in (EV, DAYS, HOURS, LAST, OUT):
            conn.execute(update(t).where(t.c.compound == compound).values(local_date=old))
    retention.purge(central.engine, 28, now=datetime.now() + timedelta(seconds=1))
    kept = _mine(_kept(central.engine), compound)
    assert kept == _mine(_recounted(central.engine), compound)
    assert not kept["last_movements"]
    assert [r[4] for r in kept["gate_days"]] == [0] and [r[5] for r in kept["gate_days"]] == [1]


def _health(server: CentralServer, device_id: str) -> queries.GateHealth:
    with server.engine.connect() as conn:
        (g,) = [g for g in queries.gate_health(conn, UTC_VIEW, Scope())
                if g.device_id == device_id]
    return g


def test_each_gate_reports_how_old_its_data_is_and_old_data_is_listed_not_locked(
        central: CentralServer, kiosks: list[Kiosk]):  # noqa: F811
    gate1 = kiosks[0]
    device = gate1.settings.device.id
    syncer = gate1.syncer()
    syncer.push(SyncReport())  # before any pull: the gate has nothing from the command
    never = _health(central, device)
    assert never.stale and never.data_reported and never.data_age is None
    assert data_age_status(state.status(gate1.store.engine, gate1.data_dir, "").data_age_s(),
                           24) == ("data_never", {})
    gate1.sync()  # pushes (still "never"), then pulls everything
    age = state.status(gate1.store.engine, gate1.data_dir, "").data_age_s()
    assert age is not None and age < 60
    gate1.sync()
    for _ in range(2):  # the other gate reports data it has just fetched
        kiosks[1].sync()
    fresh = _health(central, device)
    assert not fresh.stale and fresh.data_age is not None
    assert fresh.data_age < timedelta(minutes=1)

    # the pulls fail for 30 hours while uploads go through (a proxy that blocks one path)
    state.record(gate1.store.engine, **{state.DATA_AS_OF: (
        datetime.now() - timedelta(hours=30)).isoformat(timespec="seconds")})
    assert gate1.check("R1", "out").decision.allowed  # a warning, never a locked gate
    syncer.push(SyncReport())
    old = _health(central, device)
    assert old.stale and old.data_reported and not old.silent
    assert timedelta(hours=29) < old.data_age < timedelta(hours=31)  # type: ignore[operator]
    key, values = data_age_status(
        state.status(gate1.store.engine, gate1.data_dir, "").data_age_s(), 24) or ("", {})
    assert (key, values) == ("data_old", {"hours": 30})
    v = queries.view(central.engine, UTC_VIEW, Scope(gate1.compound))
    assert [g.checkpoint for g in v.stale] == ["gate-1"]
    # a data age that is no number is refused whole
    r = httpx.post(central.url + "/api/v1/events", content=b'{"device_id": "%s", "events": []}'
                   % device.encode(), headers={"Authorization": f"Bearer {gate1.secret}",
                                               "X-Kiosk-Data-Age": "yesterday"})
    assert r.status_code == 422 and "x-kiosk-data-age" in r.text
