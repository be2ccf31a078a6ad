"""Retention at a compound hub: the movements the district passed down (pass numbers and
households of other gates' residents) go with the hub's own old events, and the district
sending them once more (it sends its last 14 days) does not bring them back."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from kiosk.server import audit, hub
from kiosk.server.db import make_server_engine, upgrade
from kiosk.server.hub import HM, _apply_movements
from kiosk.server.retention import purge

TODAY = date(2026, 3, 20)


def _move(n: int, day: date) -> dict[str, object]:
    """A movement as the district's change stream passes it down."""
    return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "device_id": "gate-elsewhere",
            "checkpoint": "south", "seq": n, "pass_number": f"R{n:07d}",
            "household": f"H{n}", "direction": "out", "local_date": day.isoformat(),
            "wall_utc": f"{day.isoformat()}T02:00:00", "counts_against_quota": False}


def test_purge_at_a_hub_deletes_old_passed_down_movements_for_good(tmp_path: Path):
    engine = make_server_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    upgrade(engine)
    old, recent = TODAY - timedelta(days=10), TODAY - timedelta(days=1)
    with engine.begin() as conn:
        _apply_movements(conn, "north", [_move(1, old), _move(2, old), _move(3, recent)])

    def kept() -> list[str]:
        with engine.connect() as conn:
            return sorted(conn.execute(select(HM.c.pass_number)).scalars())

    assert kept() == ["R0000001", "R0000002", "R0000003"]
    assert purge(engine, 7, today=TODAY, dry_run=True).dry_run
    assert kept() == ["R0000001", "R0000002", "R0000003"]  # a dry run changes nothing

    purge(engine, 7, today=TODAY, actor="cli:test")
    assert kept() == ["R0000003"]
    runs = [json.loads(e.detail) for e in audit.entries(engine, action=audit.PURGE)]
    assert {"before": (TODAY - timedelta(days=7)).isoformat(), "hub_movements": 2,
            "keep_days": 7} in runs

    # the district's next pull sends the same 14 days again, plus a new movement
    with engine.begin() as conn:
        _apply_movements(conn, "north", [_move(1, old), _move(2, old), _move(3, recent),
                                         _move(4, TODAY)])
        assert hub.get_state(conn, hub.RETENTION_CUTOFF)[hub.RETENTION_CUTOFF] == \
            (TODAY - timedelta(days=7)).isoformat()
        assert conn.execute(select(func.count()).select_from(HM)).scalar() == 2
    assert kept() == ["R0000003", "R0000004"]
