"""The central store's retention: old personal data is wiped (late arrivals too), the daily
counts of the district report and the hash chains stay; "still out" looks at earlier days."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from sync_testkit import ROSTER, CentralServer, Kiosk

from kiosk.cli import main
from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.server import admin, audit
from kiosk.server.export import export_central
from kiosk.server.ingest import EV
from kiosk.server.retention import purge
from kiosk.server.verify import verify_all
from kiosk.store.events import PERSONAL_FIELDS, Visitor
from kiosk.store.importer import parse_roster

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _summary(central: CentralServer, day: date, out: Path) -> list[list[str]]:
    result = export_central(central.engine, day, out, lang="en", mask=False, actor="test")
    with open(result.files[1].path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _movements(central: CentralServer, day: date, out: Path) -> list[dict[str, str]]:
    result = export_central(central.engine, day, out, lang="en", mask=False, actor="test")
    with open(result.files[0].path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _personal(central: CentralServer, compound: str) -> list[tuple[str, object]]:
    """Every personal value still held for the compound, in columns or records."""
    left = []
    with central.engine.connect() as conn:
        for r in conn.execute(select(EV).where(EV.c.compound == compound)):
            record = json.loads(r.record)
            left += [(f, record[f]) for f in PERSONAL_FIELDS if record.get(f) not in (None, "")]
            left += [(c, getattr(r, c)) for c in ("pass_number", "household")
                     if getattr(r, c) is not None]
    return left


def test_purge_wipes_personal_data_keeps_counts_chains_and_catches_late_arrivals(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):
    gate1, gate2 = kiosks
    gate1.check("R1", "out")
    gate1.check("R3", temp=38.6)
    gate1.check("NOPE")
    gate2.check("W1", "out")
    gate2.gate.register_visitor(Visitor("访客王", "13700001111", "送药", "12"),
                                [make_reading(36.4, source=ReadingSource.MANUAL)],
                                direction=Direction.IN)
    for k in kiosks:
        assert k.sync().quarantined == 0
    gate2.check("W1", "in")  # recorded that day, reaches the central store only later
    day = date.today()
    before = _summary(central, day, tmp_path / "before")
    assert ["still_out"] == [h for h in before[0] if h == "still_out"]
    assert _personal(central, gate1.compound)

    later = day + timedelta(days=3)
    r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "serve", "--db",
                                  central.db_url, "retention", "purge", "--days", "2",
                                  "--dry-run"])
    assert r.exit_code == 0 and "would wipe" in r.output  # today's events: nothing yet
    report = purge(central.engine, 2, today=later, actor="cli:test")
    assert report.days == [day] and report.events >= 5
    assert _personal(central, gate1.compound) == []
    assert _summary(central, day, tmp_path / "after") == before
    rows = _movements(central, day, tmp_path / "rows")
    assert len(rows) == 5 and all(not r["pass_number"] and not r["person"] for r in rows)
    assert all(not c.problems for c in verify_all(central.engine))  # chains still prove it

    assert gate2.sync().sent == 1  # the late arrival, then the next night's run
    assert _personal(central, gate1.compound) != []
    again = purge(central.engine, 2, today=later)
    assert again.days == [day] and again.events >= 1
    assert _personal(central, gate1.compound) == []
    assert _summary(central, day, tmp_path / "frozen") == before  # frozen: late one not in it
    assert purge(central.engine, 2, today=later).events == 0
    runs = [json.loads(e.detail) for e in audit.entries(central.engine, action=audit.PURGE)
            if e.actor == "cli:test"]
    assert runs and runs[0]["day"] == day.isoformat()


def test_still_out_counts_residents_who_left_on_an_earlier_day(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):
    gate1, gate2 = kiosks
    good, _ = parse_roster(ROSTER)
    admin.publish_roster(central.engine, good, gate1.compound)  # who is a resident
    gate1.check("R1", "out")
    gate2.check("W1", "out")
    gate2.check("W1", "in")
    for k in kiosks:
        k.sync()
    tomorrow = date.today() + timedelta(days=1)
    summary = _summary(central, tomorrow, tmp_path / "next")
    header, *rows = summary
    still_out = {row[1]: row[header.index("still_out")] for row in rows}
    assert still_out.get("gate-1") == "1" and still_out.get("gate-2", "0") == "0"
