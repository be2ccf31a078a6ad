"""``kiosk serve export``: the central store's nightly report is the kiosks' reports together."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sync_testkit import ROSTER, CentralServer, Kiosk

from kiosk.cli import main
from kiosk.export.nightly import ExportOptions, export_day
from kiosk.server import admin
from kiosk.store.importer import parse_roster

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _day(k: Kiosk) -> date:
    with k.store.engine.connect() as conn:
        return date.fromisoformat(
            conn.exec_driver_sql("SELECT min(local_date) FROM gate_events").scalar_one())


def test_the_district_export_holds_every_checkpoints_rows_once(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path) -> None:
    gate1, gate2 = kiosks
    good, bad = parse_roster(ROSTER)
    assert not bad
    admin.publish_roster(central.engine, good, gate1.compound)
    for number, direction in (("R1", "out"), ("R3", None), ("W1", "out"), ("NOPE", None)):
        gate1.check(number, direction)
    gate2.check("R2", "out")
    gate2.check("W1", "in")
    gate2.check("R3", temp=38.6)  # a fever to re-measure: readings travel too
    for k in kiosks:
        assert k.sync().quarantined == 0
    day = _day(gate1)
    assert _day(gate2) == day

    # what each kiosk would export itself that night (unmasked, English headers)
    expected: list[list[str]] = []
    header: list[str] = []
    for k in kiosks:
        res = export_day(k.store.engine, day, tmp_path / k.name,
                         ExportOptions(label=k.name, lang="en", mask=False))
        header, *rows = _rows(res.files[0].path)
        assert rows
        expected += rows

    out = tmp_path / "district"
    r = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path / "data"), "serve", "export", "--db", central.db_url,
        "--date", day.isoformat(), "--out", str(out), "--lang", "en", "--unmasked"])
    assert r.exit_code == 0, r.output
    got_header, *got = _rows(out / f"movements_district_{day}.csv")
    assert got_header == header
    assert sorted(got) == sorted(expected) and len(got) == len(expected) == 7
    names = {row[header.index("person")] for row in got}
    assert {"张一", "张二", "李三", "王铁路"} <= names
    assert any(row[header.index("temp1_c")] for row in got)

    summary = _rows(out / f"summary_district_{day}.csv")
    assert [row[1] for row in summary[1:]] == ["gate-1", "gate-2", "total"]

    manifest = json.loads((out / f"manifest_district_{day}.json").read_text("utf-8"))
    assert manifest["checkpoint"] == "district" and manifest["events"] == 7
    assert manifest["masked"] is False
    for f in manifest["files"]:
        data = (out / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["bytes"]
    assert {d["device_id"] for d in manifest["devices"]} == {
        k.settings.device.id for k in kiosks}
