"""What the dashboard's pages count, on SQLite and on a real PostgreSQL: fevers (escalated
events, whatever the reason beside them), hours in the command's zone, who is out (all of
them, page by page), the 14 days, silent gates and wrong clocks, and the scope of a compound
and of a gate. The pages themselves are driven in Chromium by test_sync_dashboard.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from dashboard_seed import copy_event, event_like, store_events
from sqlalchemy import Engine, delete, update
from sync_testkit import database_url

from kiosk.server import admin
from kiosk.server.admin import CODES
from kiosk.server.audit import AUD
from kiosk.server.db import alembic_config, make_server_engine, open_server_store
from kiosk.server.ingest import DEV, EV, FI
from kiosk.server.tallies import KEPT
from kiosk.server.web import queries
from kiosk.server.web.queries import Scope
from kiosk.server.web.settings import DashboardSettings

SHANGHAI = DashboardSettings(ZoneInfo("Asia/Shanghai"))
TODAY = date(2026, 11, 30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Engine]:
    e = open_server_store(database_url(request.param, tmp_path_factory.mktemp("views")))
    yield e
    e.dispose()


@pytest.fixture
def engine(store: Engine) -> Iterator[Engine]:
    """The backend's store, emptied after each test."""
    yield store
    with store.begin() as conn:
        for table in (EV, FI, DEV, CODES, AUD, *KEPT):
            conn.execute(delete(table))


def _gate(engine: Engine, compound: str, checkpoint: str, *, contact_ago: timedelta | None,
          clock_s: float | None = 0.0) -> dict[str, Any]:
    """An enrolled kiosk as the store sees it after its last contact; a row to copy."""
    device_id = str(uuid.uuid4())
    admin.enrol_device(engine, admin.make_enrolment_code(engine, checkpoint, compound),
                       device_id)
    with engine.begin() as conn:
        conn.execute(update(DEV).where(DEV.c.id == device_id).values(
            last_contact=None if contact_ago is None  # naive UTC, as the store keeps it
            else datetime.now(UTC).replace(tzinfo=None) - contact_ago,
            clock_offset_s=clock_s))
    return {"device_id": device_id, "seq": 1, "checkpoint": checkpoint, "compound": compound,
            "direction": "in", "pass_number": "P0", "household": "1-1-101",
            "outcome": "allow", "reason": "ok", "counts_against_quota": False,
            "escalated": False, "prev_hash": "0" * 64, "hash": "1" * 64,
            "record": '{"readings": []}', "received_at": datetime.now(UTC).replace(tzinfo=None),
            "change_id": 1}


def _shanghai(day: date, hh: int, mm: int = 0) -> datetime:
    """A local time in Shanghai as the naive UTC time the store keeps."""
    local = datetime.combine(day, time(hh, mm), ZoneInfo("Asia/Shanghai"))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def test_a_fever_is_an_escalated_event_whatever_reason_stands_beside_it(engine: Engine):
    g = _gate(engine, "东区", "北门", contact_ago=timedelta(minutes=1))
    at = _shanghai(TODAY, 9)
    copy_event(engine, g, day=TODAY, at_utc=at, outcome="deny", reason="fever",
               escalated=True, temps=[38.2, 38.4])
    copy_event(engine, g, day=TODAY, at_utc=at, outcome="deny", reason="unknown_pass",
               escalated=True, pass_number=None, temps=[38.7, 38.8])
    copy_event(engine, g, day=TODAY, at_utc=at, outcome="deny", reason="fever_remeasure",
               escalated=False)
    v = queries.view(engine, SHANGHAI, Scope(), TODAY)
    assert v.total.fevers == 2 and v.total.denials == 3
    assert sorted(f.temps for f in v.fevers) == ["38.2 / 38.4", "38.7 / 38.8"]
    assert {f.at.hour for f in v.fevers} == {9}  # shown in Shanghai time
    assert [d.fevers for d in v.days][-1] == 2
    assert dict((code, n) for code, _, n in v.denials) == {
        "fever": 1, "unknown_pass": 1, "fever_remeasure": 1}


def test_movements_per_hour_are_counted_in_the_commands_hours(engine: Engine):
    g = _gate(engine, "东区", "北门", contact_ago=timedelta(minutes=1))
    # 07:30 in Shanghai is 23:30 UTC the day before: still today's first morning hour
    copy_event(engine, g, day=TODAY, at_utc=_shanghai(TODAY, 7, 30), direction="out")
    copy_event(engine, g, day=TODAY, at_utc=_shanghai(TODAY, 7, 45), direction="out")
    copy_event(engine, g, day=TODAY, at_utc=_shanghai(TODAY, 18, 5), direction="in")
    copy_event(engine, g, day=TODAY, at_utc=_shanghai(TODAY, 18, 6), direction="in",
               outcome="deny", reason="unknown_pass")  # a denial is not a movement
    copy_event(engine, g, day=TODAY - timedelta(days=1), at_utc=_shanghai(TODAY, -1 % 24),
               direction="in")  # yesterday's row: not today
    (h,) = queries.view(engine, SHANGHAI, Scope(), TODAY).hourly
    assert h.outs[7] == 2 and sum(h.outs) == 2
    assert h.ins[18] == 1 and sum(h.ins) == 1


def test_everyone_out_is_counted_and_listed_page_by_page_longest_out_first(engine: Engine):
    a = _gate(engine, "东区", "北门", contact_ago=timedelta(minutes=1))
    b = _gate(engine, "东区", "南门", contact_ago=timedelta(minutes=1))
    store_events(engine, [
        event_like(a, day=TODAY, at_utc=_shanghai(TODAY, 8) + timedelta(seconds=i),
                   direction="out", pass_number=f"P{i:03d}") for i in range(230)])
    for i in range(5):  # came back through the other gate
        copy_event(engine, b, day=TODAY, at_utc=_shanghai(TODAY, 12, i), direction="in",
                   pass_number=f"P{i:03d}")
    copy_event(engine, a, day=TODAY - timedelta(days=20), at_utc=_shanghai(TODAY, 8),
               direction="out", pass_number="OLD")  # older than the window: missing, not out
    v = queries.view(engine, SHANGHAI, Scope(), TODAY)
    assert v.out_total == 225 and v.out_by_compound == {"东区": 225}
    seen = []
    with engine.connect() as conn:
        for page in range(3):
            rows = queries.out_now_page(conn, SHANGHAI, Scope(), TODAY, page * 100, 100)
            seen += [r.pass_number for r in rows]
        assert queries.out_now_counts(conn, Scope("东区", "南门"), TODAY) == {}
        assert queries.out_now_counts(conn, Scope("东区", "北门"), TODAY) == {"东区": 225}
    assert seen == [f"P{i:03d}" for i in range(5, 230)]


def test_a_compound_and_a_gate_see_only_their_own(engine: Engine):
    east = _gate(engine, "东区", "北门", contact_ago=timedelta(minutes=1))
    east2 = _gate(engine, "东区", "南门", contact_ago=timedelta(minutes=1))
    west = _gate(engine, "西区", "北门", contact_ago=timedelta(minutes=1))  # same gate name
    for g, n in ((east, 3), (east2, 2), (west, 7)):
        for i in range(n):
            copy_event(engine, g, day=TODAY, at_utc=_shanghai(TODAY, 10, i),
                       pass_number=f"{g['compound']}{g['checkpoint']}{i}", escalated=True,
                       outcome="deny", reason="fever")
    district = queries.view(engine, SHANGHAI, Scope(), TODAY)
    assert district.total.fevers == 12
    assert [(c.compound, c.gates, c.fevers) for c in district.compounds()] == [
        ("东区", 2, 5), ("西区", 1, 7)]
    east_v = queries.view(engine, SHANGHAI, Scope("东区"), TODAY)
    assert east_v.total.fevers == 5 and {g.compound for g in east_v.gates} == {"东区"}
    assert {f.compound for f in east_v.fevers} == {"东区"}
    gate_v = queries.view(engine, SHANGHAI, Scope("东区", "北门"), TODAY)
    assert gate_v.total.fevers == 3 and len(gate_v.gates) == 1 and len(gate_v.recent) == 3
    assert sum(d.fevers for d in gate_v.days) == 3


def test_silent_gates_wrong_clocks_and_stale_data_need_attention(engine: Engine):
    _gate(engine, "东区", "好门", contact_ago=timedelta(minutes=2), clock_s=3.0)
    _gate(engine, "东区", "静门", contact_ago=timedelta(minutes=40))
    _gate(engine, "东区", "新门", contact_ago=None, clock_s=None)  # enrolled, never heard from
    _gate(engine, "东区", "快门", contact_ago=timedelta(minutes=1), clock_s=720.0)
    _gate(engine, "东区", "旧门", contact_ago=timedelta(hours=30))
    v = queries.view(engine, SHANGHAI, Scope(), TODAY)
    assert sorted(g.checkpoint for g in v.silent) == ["新门", "旧门", "静门"]
    assert [g.checkpoint for g in v.clock_wrong] == ["快门"]
    assert sorted(g.checkpoint for g in v.attention) == ["快门", "新门", "旧门", "静门"]
    # roster, revocations and keys are fetched at every contact: 30 h silent, 30 h old
    assert sorted(g.checkpoint for g in v.stale) == ["新门", "旧门"]


def test_the_fourteen_days_end_today_and_count_each_day(engine: Engine):
    g = _gate(engine, "东区", "北门", contact_ago=timedelta(minutes=1))
    for back, n in ((0, 1), (5, 3), (13, 2), (14, 9)):
        day = TODAY - timedelta(days=back)
        for _ in range(n):
            copy_event(engine, g, day=day, at_utc=_shanghai(day, 12), outcome="deny",
                       reason="expired")
    days = queries.view(engine, SHANGHAI, Scope(), TODAY).days
    assert len(days) == 14 and days[-1].day == TODAY and days[0].day == TODAY - timedelta(13)
    assert [d.denials for d in days] == [2] + [0] * 7 + [3] + [0] * 4 + [1]


def test_users_made_before_roles_keep_seeing_the_district_and_roles_are_checked(
        tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = make_server_engine(url)
    cfg = alembic_config()
    with old.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql("INSERT INTO users (name, password_hash, created_at) "
                             "VALUES ('老用户', 'x', '2026-11-01 08:00:00')")
        conn.commit()
    old.dispose()
    engine = open_server_store(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT role, compound FROM users").one() == (
            "district", None)
    for role, compound in (("compound", None), ("district", "东区"), ("boss", None)):
        with pytest.raises(admin.AdminError):
            admin.add_user(engine, "新用户", "correct horse battery", role=role,
                           compound=compound)
    engine.dispose()
