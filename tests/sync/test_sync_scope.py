"""Roles and scope across the boundary (issue 15 point 4), on SQLite and PostgreSQL:
``kiosk serve export --user`` gives a compound user their compound only and a viewer masked
data only, whatever they ask; a kiosk's API (/changes) gives a device only its own
compound's roster and movements. The pages and contact tracing: test_sync_dashboard.py."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sync_testkit import CentralServer, Kiosk, make_kiosk

from kiosk.cli import main
from kiosk.server import admin, audit
from kiosk.store.importer import parse_roster

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)

WEST_ROSTER = (
    "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
    "赵西,9,1,901,9-1-901,13900000009,X9,resident,2020-01-01,2099-12-31\n")
EAST_ROSTER = (
    "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
    "张一,1,1,101,1-1-101,13800000001,R1,resident,2020-01-01,2099-12-31\n"
    "张二,1,1,101,1-1-101,13800000002,R2,resident,2020-01-01,2099-12-31\n")


def _rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _two_compounds(central: CentralServer, kiosks: list[Kiosk], tmp_path: Path
                   ) -> tuple[Kiosk, Kiosk, Kiosk, date]:
    east1, east2 = kiosks
    west = make_kiosk(tmp_path, "west-gate", central, "西区", roster=WEST_ROSTER)
    for roster, compound in ((EAST_ROSTER, east1.compound), (WEST_ROSTER, "西区")):
        good, bad = parse_roster(roster)
        assert not bad
        admin.publish_roster(central.engine, good, compound)
    east1.check("R1", "out")
    east2.check("R2", "out")
    west.check("X9", "out")
    for k in (east1, east2, west):
        assert k.sync().quarantined == 0
    with west.store.engine.connect() as conn:
        day = date.fromisoformat(conn.exec_driver_sql(
            "SELECT min(local_date) FROM gate_events").scalar_one())
    return east1, east2, west, day


def _export(central: CentralServer, tmp_path: Path, day: date, out: Path, *args: str
            ) -> tuple[int, str]:
    r = CliRunner().invoke(main, [
        "--data-dir", str(tmp_path / "data"), "serve", "export", "--db", central.db_url,
        "--date", day.isoformat(), "--out", str(out), "--lang", "en", *args])
    return r.exit_code, r.output


def test_an_export_for_a_user_and_a_kiosks_download_stay_within_their_compound(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path) -> None:
    east1, _east2, west, day = _two_compounds(central, kiosks, tmp_path)
    admin.add_user(central.engine, "西区组长", "correct horse battery", role="compound",
                   compound="西区")
    admin.add_user(central.engine, "观察", "correct horse battery", role="viewer")

    code, output = _export(central, tmp_path, day, tmp_path / "w", "--user", "西区组长",
                           "--unmasked")
    assert code == 0, output
    header, *rows = _rows(tmp_path / "w" / f"movements_西区_{day}.csv")
    assert [r[header.index("checkpoint")] for r in rows] == ["west-gate"]
    assert rows[0][header.index("person")] == "赵西"  # a compound user sees names
    # the day's briefing beside the files, of that compound only
    briefing = (tmp_path / "w" / f"briefing_西区_{day}.html").read_text("utf-8")
    assert "区指挥部每日简报" in briefing and "<td>西区</td>" in briefing
    assert "gate-1" not in briefing and east1.compound not in briefing

    # asking for the other compound: refused whole, no file, audited
    code, output = _export(central, tmp_path, day, tmp_path / "e", "--user", "西区组长",
                           "--compound", east1.compound)
    assert code != 0 and "only their own compound (西区)" in output
    assert not (tmp_path / "e").exists() or not any((tmp_path / "e").iterdir())

    # a viewer: never unmasked; masked when they ask for nothing special
    code, output = _export(central, tmp_path, day, tmp_path / "v", "--user", "观察",
                           "--unmasked")
    assert code != 0 and "viewer" in output
    code, output = _export(central, tmp_path, day, tmp_path / "v", "--user", "观察")
    assert code == 0, output
    header, *rows = _rows(tmp_path / "v" / f"movements_district_{day}.csv")
    people = {r[header.index("person")] for r in rows}
    assert len(rows) == 3 and not people & {"张一", "张二", "赵西"}

    exports = [(e.actor, json.loads(e.detail)) for e in audit.entries(central.engine)
               if e.action in (audit.EXPORT, audit.EXPORT_UNMASKED)]
    assert any(a.endswith("for 西区组长") and d.get("compound") == "西区"
               and d.get("masked") is False for a, d in exports)
    assert [d for a, d in exports if a.endswith("for 西区组长") and d.get("refused")]
    assert [d for a, d in exports if a.endswith("for 观察") and d.get("refused")]

    # the kiosks' API takes no user: a device gets its own compound's roster and movements
    for me, mine, theirs in ((east1, {"R1", "R2"}, {"X9"}), (west, {"X9"}, {"R1", "R2"})):
        with me.client() as client:
            page = client.changes("")
        roster = {r["pass_number"] for r in page["roster"]}
        moves = {m["pass_number"] for m in page["movements"]}
        assert roster == mine and not moves & theirs, me.name
    with east1.client() as client:
        assert {m["pass_number"] for m in client.changes("")["movements"]} == {"R2"}
