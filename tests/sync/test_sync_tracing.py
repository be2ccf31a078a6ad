"""Contact tracing (时空关联) on a real store, SQLite and PostgreSQL: who passed the same
gate within the window, the household's 14 days, a fever event, the compound limit, and the
CSV written by the nightly export's Excel-safe writer. The page, its roles and its audit
rows: test_sync_dashboard.py (against a real server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dashboard_seed import store_events
from sqlalchemy import Engine, delete
from sync_testkit import database_url

from kiosk.export.csvfile import BOM
from kiosk.server.db import open_server_store
from kiosk.server.ingest import EV
from kiosk.server.tracing import (
    SubjectKind,
    TraceError,
    TraceQuery,
    TraceResult,
    subject_compounds,
    trace,
    write_trace_csv,
)
from kiosk.server.web.settings import DashboardSettings

SHANGHAI = DashboardSettings(ZoneInfo("Asia/Shanghai"))
TODAY = date(2026, 11, 30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    """One district's fortnight, written once per backend (the tests only read)."""
    e = open_server_store(database_url(request.param, tmp_path_factory.mktemp("trace")))
    rows = [
        _ev("东区", "北门", 9, 0, "P1", "1-1-101", "out", id_="subject-out"),
        _ev("东区", "北门", 9, 10, "P2", "2-1-201", "out"),  # contact, 10 min later
        _ev("东区", "北门", 8, 46, "P3", "=cmd|' /C calc'!A0", "in"),  # contact, 14 min before
        _ev("东区", "北门", 9, 40, "P4", "3-1-301", "in"),  # 40 min later: not a contact
        _ev("东区", "南门", 9, 5, "P5", "4-1-401", "in"),  # another gate
        _ev("西区", "北门", 9, 5, "P6", "5-1-501", "in"),  # same gate name, other compound
        _ev("东区", "北门", 9, 3, None, None, "in", outcome="deny"),  # no one to trace
        _ev("东区", "北门", 9, 2, "P1B", "1-1-101", "out"),  # the subject's own household
        # the household's fortnight: 10 days ago in, 20 days ago (outside) in
        _ev("东区", "南门", 18, 0, "P1B", "1-1-101", "in", back=10),
        _ev("东区", "南门", 18, 0, "P1B", "1-1-101", "in", back=20),
        # a confirmed fever at 南门 at 17:00 two days ago, and who stood beside it
        _ev("东区", "南门", 17, 0, "P7", "6-1-601", "in", back=2, escalated=True,
            outcome="deny", reason="fever", id_="fever-1"),
        _ev("东区", "南门", 17, 12, "P8", "7-1-701", "in", back=2),
        # after midnight local: a window that crosses into the next day
        _ev("东区", "北门", 23, 55, "P9", "8-1-801", "in", back=3),
        _ev("东区", "北门", 0, 5, "P10", "9-1-901", "out", back=2),
        # recorded by mistake at 北门 beside the subject and undone at the gate (the
        # correction names it): P11 did not pass, and neither record is a passage
        _ev("东区", "北门", 9, 4, "P11", "10-1-1001", "out", id_="undone-out"),
        _ev("东区", "北门", 9, 5, "P11", "10-1-1001", "out", outcome="undo",
            reason="undone", corrects_event_id="undone-out"),
        # the subject's household: an exit five days ago undone, with its correction
        _ev("东区", "南门", 8, 0, "P1B", "1-1-101", "out", back=5, id_="undone-home"),
        _ev("东区", "南门", 8, 1, "P1B", "1-1-101", "out", back=5, outcome="undo",
            reason="undone", corrects_event_id="undone-home"),
        # the fever's person passed 北门 that morning by mistake (undone): no subject passage
        _ev("东区", "北门", 9, 0, "P7", "6-1-601", "out", back=2, id_="undone-fever-day"),
        _ev("东区", "北门", 9, 1, "P7", "6-1-601", "out", back=2, outcome="undo",
            reason="undone", corrects_event_id="undone-fever-day"),
        _ev("东区", "北门", 9, 3, "P12", "11-1-1101", "in", back=2),  # near it only
    ]
    store_events(e, rows)
    yield e
    with e.begin() as conn:
        conn.execute(delete(EV))
    e.dispose()


def _ev(compound: str, gate: str, hh: int, mm: int, number: str | None,
        household: str | None, direction: str, *, back: int = 0, id_: str | None = None,
        **more: Any) -> dict[str, Any]:
    day = TODAY - timedelta(days=back)
    at = datetime.combine(day, time(hh, mm), ZoneInfo("Asia/Shanghai")).astimezone(
        ZoneInfo("UTC")).replace(tzinfo=None)
    return {"local_date": day, "id": id_ or str(uuid.uuid4()), "device_id": f"dev-{gate}",
            "seq": 1, "wall_utc": at, "checkpoint": gate, "compound": compound,
            "direction": direction, "pass_number": number, "household": household,
            "outcome": "allow", "reason": "ok", "counts_against_quota": False,
            "escalated": False, "prev_hash": "0" * 64, "hash": "1" * 64,
            "record": '{"readings": []}', "received_at": at, "change_id": 1,
            "corrects_event_id": None, **more}


def _q(kind: SubjectKind, value: str, minutes: int = 15, days: int = 14) -> TraceQuery:
    return TraceQuery(kind, value, TODAY - timedelta(days=days - 1), TODAY, minutes)


def test_a_pass_finds_who_passed_its_gate_within_the_window(engine: Engine):
    r = trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P1"))
    assert [s.id for s in r.subject] == ["subject-out"]
    assert sorted((c.other.pass_number, c.minutes_apart) for c in r.contacts) == [
        ("P1B", 2), ("P2", 10), ("P3", 14)]
    assert r.household == "1-1-101"
    # the household's 14 days, today included: not the visit 20 days ago
    assert sorted((m.pass_number, m.at.date()) for m in r.movements) == [
        ("P1", TODAY), ("P1B", TODAY - timedelta(days=10)), ("P1B", TODAY)]
    wider = trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P1", minutes=45))
    assert "P4" in {c.other.pass_number for c in wider.contacts}
    assert trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P1", days=1)).subject  # today only


def test_a_household_is_traced_without_its_own_members(engine: Engine):
    r = trace(engine, SHANGHAI, _q(SubjectKind.HOUSEHOLD, "1-1-101"))
    assert {s.pass_number for s in r.subject} == {"P1", "P1B"}
    assert {c.other.pass_number for c in r.contacts} == {"P2", "P3"}


def test_a_fever_event_is_traced_with_its_persons_day(engine: Engine):
    r = trace(engine, SHANGHAI, _q(SubjectKind.EVENT, "fever-1"))
    assert [s.id for s in r.subject] == ["fever-1"]
    assert [(c.other.pass_number, c.minutes_apart) for c in r.contacts] == [("P8", 12)]
    assert subject_compounds(engine, _q(SubjectKind.EVENT, "fever-1")) == {"东区"}


def test_a_window_across_midnight_finds_the_next_days_passage(engine: Engine):
    r = trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P9"))
    assert [(c.other.pass_number, c.minutes_apart) for c in r.contacts] == [("P10", 10)]


def test_a_compound_user_traces_within_their_compound_only(engine: Engine):
    assert subject_compounds(engine, _q(SubjectKind.PASS, "P6")) == {"西区"}
    r = trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P6"), compound="东区")
    assert not r.subject and not r.contacts and not r.movements
    # a district user tracing P6 sees the 西区 gate only: 东区's 北门 is another gate
    assert not trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P6")).contacts


def test_a_query_out_of_bounds_is_refused_whole(engine: Engine):
    for q in (_q(SubjectKind.PASS, "P1", minutes=0), _q(SubjectKind.PASS, " "),
              _q(SubjectKind.PASS, "P1", days=40),
              TraceQuery(SubjectKind.PASS, "P1", TODAY, TODAY - timedelta(days=1))):
        with pytest.raises(TraceError):
            trace(engine, SHANGHAI, q)


def test_a_movement_undone_at_the_gate_is_no_passage_and_no_contact(engine: Engine):
    """An undone movement did not happen (the volunteer recorded it by mistake): tracing
    once listed it, and its correction, as contacts, sending the officer after someone who
    was not there. Neither is a contact, a subject passage or a household movement."""
    undone = {"undone-out", "undone-home", "undone-fever-day"}

    def ids(r: TraceResult) -> set[str]:
        return ({p.id for p in r.subject} | {c.other.id for c in r.contacts}
                | {m.id for m in r.movements})

    def outcomes(r: TraceResult) -> set[str]:
        return ({p.outcome for p in r.subject} | {c.other.outcome for c in r.contacts}
                | {m.outcome for m in r.movements})

    for q in (_q(SubjectKind.PASS, "P1"), _q(SubjectKind.HOUSEHOLD, "1-1-101"),
              _q(SubjectKind.EVENT, "fever-1"), _q(SubjectKind.PASS, "P2", minutes=60),
              _q(SubjectKind.PASS, "P11")):
        r = trace(engine, SHANGHAI, q)
        assert not ids(r) & undone, q
        assert "undo" not in outcomes(r), q
    assert "P11" not in {c.other.pass_number
                         for c in trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P1")).contacts}
    assert not trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P11")).subject
    # the fever's person: only the fever itself, not the undone passage at 北门
    fever = trace(engine, SHANGHAI, _q(SubjectKind.EVENT, "fever-1"))
    assert [s.id for s in fever.subject] == ["fever-1"]
    assert "P12" not in {c.other.pass_number for c in fever.contacts}


def test_the_csv_is_written_by_the_exports_excel_safe_writer(engine: Engine, tmp_path: Path):
    r = trace(engine, SHANGHAI, _q(SubjectKind.PASS, "P1"))
    written = write_trace_csv(tmp_path / "t.csv", r, str)
    text = (tmp_path / "t.csv").read_bytes().decode("utf-8")
    assert text.startswith(BOM + "类别 / kind,")
    assert written.rows == len(r.contacts) + len(r.movements) == 6
    assert "'=cmd|' /C calc'!A0" in text  # a formula in a household: neutralised
    assert ",=cmd" not in text
    assert "\r\n" in text
