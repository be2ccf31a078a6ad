"""The district export names the volunteer of every event: kiosks send the names of their
volunteer ids with each batch; a malformed list is refused as a whole.

And a confirmed fever followed from the gate to the command and back (here to share the
central store these tests start): the volunteer's acknowledgement (who was called, when, by
whom) is an event naming the fever, synced and exported like any event, and the first step
of the fever's case, named by the volunteer; a second copy adds no step; the step the
command enters comes back to the gate that recorded the fever."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sync_testkit import CentralServer, Kiosk

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.export.nightly import ExportOptions, export_day
from kiosk.server.cases import GATE_ACK, add_step, case_with_steps, open_cases
from kiosk.server.export import export_central
from kiosk.server.ingest import EV, Ingest
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.lite import utc_now
from kiosk.store.volunteers import add_volunteer
from kiosk.sync.runner import load_events
from kiosk.ui.vm.queries import fever_follow_up

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)

SHANGHAI = DashboardSettings(ZoneInfo("Asia/Shanghai"))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_district_export_names_each_events_volunteer(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):
    gate1, gate2 = kiosks
    reading = [make_reading(36.5, source=ReadingSource.MANUAL)]
    add_volunteer(gate1.store.engine, "先到的", "1357924")  # gate 1's ids differ from gate 2's
    li_at_1 = add_volunteer(gate1.store.engine, "李静", "2468135")
    li_at_2 = add_volunteer(gate2.store.engine, "李静", "2468135")
    wang_at_2 = add_volunteer(gate2.store.engine, "王老师", "2938471")
    assert li_at_1 != li_at_2 == 1
    gate1.gate.check("R1", reading, direction=Direction.OUT, volunteer_id=li_at_1)
    gate2.gate.check("R2", reading, direction=Direction.OUT, volunteer_id=wang_at_2)
    gate2.gate.check("W1", reading, direction=Direction.OUT, volunteer_id=li_at_2)
    gate2.check("R3", "out")  # recorded from the command line: no volunteer
    for k in kiosks:
        assert k.sync().quarantined == 0

    day = date.today()
    result = export_central(central.engine, day, tmp_path / "district", lang="en",
                            mask=False, actor="test")
    got = {r["pass_number"]: r["volunteer"] for r in _rows(result.files[0].path)}
    assert got == {"R1": "李静", "R2": "王老师", "W1": "李静", "R3": ""}
    # and the same as each kiosk's own file says
    for k in kiosks:
        own = export_day(k.store.engine, day, tmp_path / k.name,
                         ExportOptions(label=k.name, lang="en", mask=False))
        for r in _rows(own.files[0].path):
            assert got[r["pass_number"]] == r["volunteer"]


@pytest.mark.parametrize("volunteers", [[1, 2], {"x": "李静"}, {"1": 3}, {"1": ""},
                                        {"1": "x" * 101}])
def test_a_malformed_volunteer_list_refuses_the_batch(
        central: CentralServer, kiosks: list[Kiosk], volunteers: object):
    k = kiosks[0]
    body = {"device_id": k.settings.device.id, "events": [], "volunteers": volunteers}
    r = httpx.post(k.server_url + "/api/v1/events", content=json.dumps(body),
                   headers={"Authorization": f"Bearer {k.secret}",
                            "Content-Type": "application/json"})
    assert r.status_code == 422 and "volunteer" in r.json()["error"]


def test_the_gates_acknowledgement_is_the_cases_first_step_and_the_case_comes_back(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):
    gate1, gate2 = kiosks
    li = add_volunteer(gate1.store.engine, "李静", "2468135")
    first, again = (make_reading(c, source=ReadingSource.MANUAL) for c in (38.5, 38.6))
    gate1.gate.check("R1", [first], direction=Direction.IN, volunteer_id=li)  # re-measure
    fever = gate1.gate.check("R1", [first, again], direction=Direction.IN, volunteer_id=li)
    assert fever.decision.escalate
    ack = gate1.gate.acknowledge(fever.event.id, "王组长 13800138000", volunteer_id=li)
    assert gate1.sync().quarantined == 0

    # the case's first step is the gate's: who was called, by which volunteer, when
    (case,) = [c for c in open_cases(central.engine, SHANGHAI, gate1.compound)]
    assert case.event_id == fever.event.id
    _, steps = case_with_steps(central.engine, SHANGHAI, case.id) or (None, [])
    assert [(s.step, s.by, s.note) for s in steps] == [
        (GATE_ACK, "gate-1 · 李静", "已通知 / called: 王组长 13800138000")]
    acked_at = ack.event.wall_utc.replace(tzinfo=ZoneInfo("UTC"))
    assert abs(steps[0].at - acked_at) < timedelta(seconds=1)
    # the same events again (a reply lost on the way back): no second step
    with gate1.store.engine.connect() as conn:
        sent = load_events(conn, [fever.event.id, ack.event.id])
    Ingest(central.engine).ingest(gate1.settings.device.id, sent)
    _, steps = case_with_steps(central.engine, SHANGHAI, case.id) or (None, [])
    assert len(steps) == 1
    with central.engine.connect() as conn:
        kept = conn.execute(select(EV.c.outcome, EV.c.reason, EV.c.escalated)
                            .where(EV.c.id == ack.event.id)).one()
    assert tuple(kept) == ("notified", "leader_notified", False)  # no second fever

    # exported like any event, at the gate and at the district, naming the fever
    for rows in (_rows(export_day(gate1.store.engine, date.today(), tmp_path / "own",
                                  ExportOptions(label="own", lang="en", mask=False)
                                  ).files[0].path),
                 _rows(export_central(central.engine, date.today(), tmp_path / "district",
                                      lang="en", mask=False, actor="test").files[0].path)):
        (row,) = [r for r in rows if r["event_id"] == ack.event.id]
        assert (row["decision"], row["corrects_event_id"], row["volunteer"], row["note"]) == (
            "notified", fever.event.id, "李静", "王组长 13800138000")
        assert sum(r["escalated"] == "1" for r in rows) == 1  # still one fever

    # the gate: acknowledged, not yet taken over; then the command takes it over
    since = utc_now() - timedelta(hours=1)
    (mine,) = fever_follow_up(gate1.store.engine, since)
    assert (mine.event_id, mine.acknowledged, mine.state) == (fever.event.id, True, None)
    add_step(central.engine, case.id, "taken_over", "街道 张医生", "")
    gate1.sync()
    gate2.sync()
    (mine,) = fever_follow_up(gate1.store.engine, since)
    assert mine.state == "taken_over" and mine.taken_over
    assert fever_follow_up(gate2.store.engine, since) == []  # not a fever of gate 2
    assert isinstance(mine.at_utc, datetime)


def test_a_malformed_case_from_the_server_is_left_out_and_the_rest_kept():
    from kiosk.sync.runner import cases_from

    good = {"event_id": "e1", "state": "taken_over", "updated_at": "2026-11-30T10:00:00"}
    page = {"cases": [good, {"event_id": "e2"}, {"event_id": "e3", "state": "x" * 21,
                                                 "updated_at": "2026-11-30T10:00:00"},
                      {"event_id": "e4", "state": "clinic", "updated_at": "yesterday"}, 7]}
    assert cases_from(page) == [{"event_id": "e1", "state": "taken_over",
                                 "updated_at": datetime(2026, 11, 30, 10, 0)}]
    assert cases_from({}) is None  # an older server: the kiosk keeps what it has
