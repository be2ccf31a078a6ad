"""Fever cases on a real store, SQLite and PostgreSQL: every confirmed fever becomes one
case (whoever reads first, however often), steps move it on and the closing step closes it,
bad steps are refused whole, an old open case is marked overdue, and a gate hears only its
compound's cases. The pages: test_sync_dashboard.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dashboard_seed import store_events
from sqlalchemy import Engine, delete, func, select
from sync_testkit import database_url

from kiosk.server import audit
from kiosk.server.audit import AUD
from kiosk.server.cases import (
    CASE_STEP,
    CASES,
    STEPS,
    CaseError,
    CaseState,
    add_step,
    case_with_steps,
    for_gate,
    open_cases,
)
from kiosk.server.db import open_server_store
from kiosk.server.ingest import EV
from kiosk.server.tallies import KEPT
from kiosk.server.web.settings import DashboardSettings

SHANGHAI = DashboardSettings(ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Engine]:
    e = open_server_store(database_url(request.param, tmp_path_factory.mktemp("cases")))
    yield e
    e.dispose()


@pytest.fixture
def engine(store: Engine) -> Iterator[Engine]:
    yield store
    with store.begin() as conn:
        for table in (EV, CASES, STEPS, AUD, *KEPT):
            conn.execute(delete(table))


def _fever(compound: str, hours_ago: float, *, escalated: bool = True) -> dict[str, Any]:
    at = datetime.now(ZoneInfo("UTC")).replace(tzinfo=None) - timedelta(hours=hours_ago)
    day = SHANGHAI.from_utc(at).date()
    return {"local_date": day, "id": str(uuid.uuid4()), "device_id": "d", "seq": 1,
            "wall_utc": at, "checkpoint": "北门", "compound": compound, "direction": "in",
            "pass_number": "R1", "household": "1-1-101", "outcome": "deny",
            "reason": "fever", "counts_against_quota": False, "escalated": escalated,
            "prev_hash": "0" * 64, "hash": "1" * 64, "record": '{"readings": []}',
            "received_at": at, "change_id": 1}


def test_every_confirmed_fever_is_one_case_however_often_it_is_read(engine: Engine):
    store_events(engine, [_fever("东区", 1), _fever("东区", 2), _fever("西区", 1),
                          _fever("东区", 1, escalated=False)])  # re-measured: no case
    assert len(open_cases(engine, SHANGHAI)) == 3
    assert len(open_cases(engine, SHANGHAI)) == 3  # again: nothing new
    assert [c.compound for c in open_cases(engine, SHANGHAI, "西区")] == ["西区"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CASES)).scalar_one() == 3
    assert all(c.state is CaseState.OPEN and not c.overdue
               for c in open_cases(engine, SHANGHAI))


def test_steps_move_a_case_on_and_clearing_closes_it(engine: Engine):
    store_events(engine, [_fever("东区", 1)])
    (case,) = open_cases(engine, SHANGHAI)
    add_step(engine, case.id, "clinic", "组长", "120 转运 / ambulance", "10.0.0.1")
    add_step(engine, case.id, "note", "组长", "家属已通知 / family told")
    c, steps = case_with_steps(engine, SHANGHAI, case.id) or (None, [])
    assert c is not None and c.state is CaseState.CLINIC and c.is_open
    assert [(s.step, s.by) for s in steps] == [("clinic", "组长"), ("note", "组长")]
    for bad in (("open", ""), ("lost", ""), ("note", ""), ("clinic", "x" * 501)):
        with pytest.raises(CaseError):
            add_step(engine, case.id, *bad[:1], "组长", bad[1])
    add_step(engine, case.id, "cleared", "医生", "核酸阴性 / negative")
    assert open_cases(engine, SHANGHAI) == []
    with pytest.raises(CaseError, match="closed"):
        add_step(engine, case.id, "isolation", "组长", "")
    c, steps = case_with_steps(engine, SHANGHAI, case.id) or (None, [])
    assert c is not None and c.closed is not None and len(steps) == 3  # refused: not kept
    logged = [json.loads(e.detail) for e in audit.entries(engine, action=CASE_STEP)]
    assert sorted(d["step"] for d in logged) == ["cleared", "clinic", "note"]


def test_an_open_case_older_than_the_setting_is_overdue(engine: Engine):
    store_events(engine, [_fever("东区", 30), _fever("东区", 1)])
    assert [c.overdue for c in open_cases(engine, SHANGHAI)] == [True, False]  # default 24 h
    strict = DashboardSettings(ZoneInfo("Asia/Shanghai"), case_overdue=timedelta(minutes=30))
    assert [c.overdue for c in open_cases(engine, strict)] == [True, True]


def test_a_gate_hears_of_its_compounds_cases_once_taken_over(engine: Engine):
    east, west = _fever("东区", 1), _fever("西区", 1)
    store_events(engine, [east, west])
    cases = {c.compound: c for c in open_cases(engine, SHANGHAI)}
    with engine.connect() as conn:
        assert for_gate(conn, "东区") == []  # nobody took it over yet
    add_step(engine, cases["东区"].id, "taken_over", "组长", "")
    add_step(engine, cases["西区"].id, "isolation", "组长", "")
    with engine.connect() as conn:
        got = for_gate(conn, "东区")
    assert [(g["event_id"], g["state"]) for g in got] == [(east["id"], "taken_over")]
    assert date.fromisoformat(got[0]["updated_at"][:10])  # a time the gate can show
