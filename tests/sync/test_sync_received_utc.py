"""The central store keeps ``received_at`` in naive UTC, like ``wall_utc`` which it bounds
("who is out", /changes) and like retention's ``frozen_at`` it is compared with: on a server
whose own zone is Asia/Shanghai it was 8 hours off. Server migration 0007 moves the rows
written before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sync_testkit import CentralServer, database_url, make_kiosk, unique

from kiosk.server.db import alembic_config, create_partition, make_server_engine
from kiosk.server.ingest import EV
from kiosk.server.retention import SUMMARIES


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process, and the servers it starts, in UTC+8 (as the command's servers are)."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_a_server_in_shanghai_records_received_at_in_utc(shanghai: None, tmp_path: Path):
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path).start()
    kiosk = make_kiosk(tmp_path, "gate-tz", server, unique("c"))
    try:
        kiosk.check("R1", "out")
        assert kiosk.sync().sent == 1
        with server.engine.connect() as conn:
            received = conn.execute(select(EV.c.received_at)).scalar_one()
        assert abs(received - _utc_now()) < timedelta(minutes=2)
    finally:
        kiosk.close()
        server.stop()


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
