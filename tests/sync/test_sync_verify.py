"""``kiosk serve verify``: an event edited or deleted in the central database is found
through the kiosks' hash chains, reported, and shown to the command as a finding."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sync_testkit import CentralServer, Kiosk

from kiosk.cli import main
from kiosk.server import audit
from kiosk.server.ingest import EV
from kiosk.server.verify import STORED_ALTERED, STORED_MISSING

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _verify(central: CentralServer, tmp_path: Path) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "serve", "--db",
                                  central.db_url, "verify"])
    return r.exit_code, r.output


def test_edits_and_deletions_in_the_central_store_are_found(
        central: CentralServer, kiosks: list[Kiosk], tmp_path: Path):
    gate1, gate2 = kiosks
    for number in ("R1", "R2", "R3", "W1", "NOPE"):
        gate1.check(number, "out")
    gate2.check("R1", "in")
    for k in kiosks:
        assert k.sync().quarantined == 0
    code, out = _verify(central, tmp_path)
    assert code == 0 and f"{gate1.settings.device.id}\t5 events\tintact" in out

    dev = gate1.settings.device.id
    with central.engine.begin() as conn:
        rows = {r.seq: r for r in conn.execute(select(EV).where(EV.c.device_id == dev))}
        # a denial turned into a pass on the dashboard's copy
        conn.execute(update(EV).where(EV.c.id == rows[5].id).values(outcome="allow"))
        # the kiosk's record itself rewritten (direction), hash left as it was
        record = json.loads(rows[2].record)
        record["direction"] = "in"
        conn.execute(update(EV).where(EV.c.id == rows[2].id)
                     .values(record=json.dumps(record)))
        conn.execute(delete(EV).where(EV.c.id == rows[3].id))  # a movement made to vanish

    code, out = _verify(central, tmp_path)
    assert code == 1 and "does not hold what the kiosks recorded" in out
    assert "seq 5: column outcome differs" in out
    assert "seq 2: record altered" in out
    assert "seq 3: stored once, no longer in the central store" in out
    assert f"{gate2.settings.device.id}\t1 events\tintact" in out
    kinds = sorted((kind, seq) for kind, seq, _ in central.findings(gate1.compound)
                   if kind in (STORED_ALTERED, STORED_MISSING))
    assert kinds == [(STORED_ALTERED, 2), (STORED_ALTERED, 5), (STORED_MISSING, 3)]

    _verify(central, tmp_path)  # a second run reports again but adds no duplicate findings
    again = [f for f in central.findings(gate1.compound)
             if f[0] in (STORED_ALTERED, STORED_MISSING)]
    assert len(again) == 3
    runs = audit.entries(central.engine, action=audit.VERIFY)
    assert len(runs) >= 3 and json.loads(runs[0].detail)["problems"] == 4  # seq 2 twice
