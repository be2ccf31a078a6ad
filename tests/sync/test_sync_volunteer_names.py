"""The district export names the volunteer of every event: kiosks send the names of their
volunteer ids with each batch; a malformed list is refused as a whole."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import httpx
import pytest
from sync_testkit import CentralServer, Kiosk

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.export.nightly import ExportOptions, export_day
from kiosk.server.export import export_central
from kiosk.store.volunteers import add_volunteer

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


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
