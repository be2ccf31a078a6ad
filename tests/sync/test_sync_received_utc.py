"""The central store keeps ``received_at`` in naive UTC, like ``wall_utc`` which it bounds
("who is out", /changes) and like retention's ``frozen_at`` it is compared with: on a server
whose own zone is Asia/Shanghai it was 8 hours off. Server migration 0007 moves the rows
written before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sync_testkit import (
    CentralServer,
    Kiosk,
    database_url,
    make_kiosk,
    unique,
    utc_naive_now,
)

from kiosk.server.db import alembic_config, create_partition, make_server_engine
from kiosk.server.ingest import DEV, EV, FI
from kiosk.server.retention import SUMMARIES
from kiosk.server.web import queries
from kiosk.server.web.settings import DashboardSettings
from kiosk.sync.runner import load_events as runner_load_events

pytest_plugins = ["sync_testkit"]  # fixture: shanghai (this process in UTC+8)


def test_a_server_in_shanghai_records_received_at_in_utc(shanghai: None, tmp_path: Path):
    """And the gates' last contact, their data age and the findings (they were local time,
    8 hours off everything else); the dashboard shows them in the command's zone."""
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path).start()
    kiosk = make_kiosk(tmp_path, "gate-tz", server, unique("c"))
    try:
        kiosk.check("R1", "out")
        assert kiosk.sync().sent == 1
        kiosk.check("R1", "in")
        [altered] = load_events(kiosk)[1:]
        altered["direction"] = "out"  # not re-hashed: rejected, a finding
        with kiosk.client() as client:
            assert client.push(kiosk.settings.device.id, [altered])["rejected"]
        with server.engine.connect() as conn:
            received = conn.execute(select(EV.c.received_at)).scalar_one()
            device = conn.execute(select(DEV.c.last_contact, DEV.c.data_as_of)).one()
            finding = conn.execute(select(FI.c.at)).scalar_one()
        for stored in (received, device.last_contact, finding):
            assert abs(stored - utc_naive_now()) < timedelta(minutes=2), stored
        assert device.data_as_of is None or device.data_as_of <= device.last_contact
        zone = DashboardSettings(ZoneInfo("Europe/London"))  # shown in the command's zone
        v = queries.view(server.engine, zone, queries.Scope())
        [gate] = v.gates
        assert gate.last_contact is not None and gate.contact_age is not None
        assert abs(gate.last_contact - datetime.now(UTC)) < timedelta(minutes=2)
        assert gate.last_contact.utcoffset() == zone.now().utcoffset()
        assert timedelta(0) <= gate.contact_age < timedelta(minutes=2) and not gate.silent
        [shown] = v.findings
        assert abs(shown.at - datetime.now(UTC)) < timedelta(minutes=2)
    finally:
        kiosk.close()
        server.stop()


def load_events(kiosk: Kiosk) -> list[dict[str, Any]]:
    with kiosk.store.engine.connect() as conn:
        ids = [r.id for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        return runner_load_events(conn, ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0007_moves_older_rows_from_local_time_to_utc(shanghai: None, backend: str,
                                                                tmp_path: Path):
    engine = make_server_engine(database_url(backend, tmp_path))
    cfg = alembic_config()
    local = datetime(2026, 11, 30, 20, 15, 30, 250000)  # 12:15:30.25 UTC, as stored before
    day = date(2026, 11, 30)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        if backend == "postgresql":
            create_partition(conn, day)
        conn.execute(insert(EV).values(
            local_date=day, id="e1", device_id="d1", seq=1, wall_utc=local, checkpoint="g",
            compound="c", direction="out", pass_number="R1", household="h", outcome="allow",
            reason="ok", counts_against_quota=True, escalated=False, prev_hash="", hash="x",
            record="{}", received_at=local, change_id=1))
        conn.execute(insert(SUMMARIES).values(local_date=day, checkpoint="g", counts="{}",
                                              frozen_at=local))
        command.upgrade(cfg, "0007")
        moved = conn.execute(select(EV.c.received_at, EV.c.wall_utc)).one()
        frozen = conn.execute(select(SUMMARIES.c.frozen_at)).scalar_one()
        assert moved.received_at == frozen == datetime(2026, 11, 30, 12, 15, 30, 250000)
        assert moved.wall_utc == local  # the kiosk's own time is never touched
        command.downgrade(cfg, "0006")
        assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
        assert conn.execute(select(EV.c.received_at)).scalar_one() == local
        conn.rollback()
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0014_moves_gate_times_and_findings_from_local_time_to_utc(
        shanghai: None, backend: str, tmp_path: Path):
    engine = make_server_engine(database_url(backend, tmp_path))
    cfg = alembic_config()
    local = datetime(2026, 11, 30, 20, 15, 30, 250000)  # 12:15:30.25 UTC, as stored before
    utc = datetime(2026, 11, 30, 12, 15, 30, 250000)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0013")
        conn.execute(insert(DEV).values(
            id="d1", checkpoint="g", compound="c", secret_hash="s" * 64, enrolled_at=local,
            active=True, last_contact=local, data_as_of=local - timedelta(hours=1),
            pending=0, quarantined=0, last_seq=0, gaps="[]"))
        conn.execute(insert(DEV).values(  # never in contact: stays empty
            id="d2", checkpoint="g2", compound="c", secret_hash="t" * 64, enrolled_at=local,
            active=True, pending=0, quarantined=0, last_seq=0, gaps="[]"))
        conn.execute(insert(FI).values(at=local, kind="rejected", device_id="d1",
                                       checkpoint="g", compound="c", detail="x"))
        command.upgrade(cfg, "0014")
        d1 = conn.execute(select(DEV).where(DEV.c.id == "d1")).one()
        assert (d1.last_contact, d1.data_as_of) == (utc, utc - timedelta(hours=1))
        assert d1.enrolled_at == local  # not a time of the gate's: left as it was
        assert conn.execute(select(DEV.c.last_contact).where(DEV.c.id == "d2")
                            ).scalar_one() is None
        assert conn.execute(select(FI.c.at)).scalar_one() == utc
        command.downgrade(cfg, "0013")
        assert conn.execute(select(FI.c.at)).scalar_one() == local
        assert conn.execute(select(DEV.c.last_contact).where(DEV.c.id == "d1")
                            ).scalar_one() == local
        conn.rollback()
    engine.dispose()
