"""Every time the central store takes of itself is naive UTC (kiosk.server.clock), whatever
the zone of the machine it runs on, and is shown in the command's zone: a server in
Asia/Shanghai kept cases, the audit log and sessions in its local time, 8 hours off the
events' UTC times (a case closed "before" its fever, sessions expiring 8 h off). Server
migration 0015 moves the rows written before."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from alembic import command
from click.testing import CliRunner
from dashboard_seed import store_events
from sqlalchemy import insert, select, text
from sync_testkit import CentralServer, database_url, unique, utc_naive_now

from kiosk.cli import main
from kiosk.server import admin
from kiosk.server.audit import AUD
from kiosk.server.cases import CASES, STEPS, case_with_steps
from kiosk.server.db import alembic_config, make_server_engine
from kiosk.server.models import HubStateRow, RuleSetRow, SessionRow, UserRow
from kiosk.server.web.session import SESSION_HOURS
from kiosk.server.web.settings import TZ_ENV, DashboardSettings
from kiosk.store.models import table_of

SESSIONS, USERS, RULES, HS = (table_of(SessionRow), table_of(UserRow), table_of(RuleSetRow),
                              table_of(HubStateRow))
#: the command's zone in these tests: neither the server's (Shanghai) nor UTC
COMMAND_ZONE = "America/New_York"

pytest_plugins = ["sync_testkit"]  # fixture: shanghai (this process in UTC+8)



def _near_now(stored: datetime, plus: timedelta = timedelta(0)) -> bool:
    return abs(stored - plus - utc_naive_now()) < timedelta(minutes=2)


def _fever(compound: str, at: datetime) -> dict[str, Any]:
    day = at.replace(tzinfo=UTC).astimezone(ZoneInfo(COMMAND_ZONE)).date()
    return {"local_date": day, "id": str(uuid.uuid4()), "device_id": "d", "seq": 1,
            "wall_utc": at, "checkpoint": "北门", "compound": compound, "direction": "in",
            "pass_number": "R1", "household": "1-1-101", "outcome": "deny",
            "reason": "fever", "counts_against_quota": False, "escalated": True,
            "prev_hash": "0" * 64, "hash": "1" * 64, "record": '{"readings": []}',
            "received_at": at, "change_id": 1}


def test_a_server_in_shanghai_keeps_its_own_times_in_utc_and_shows_the_commands_zone(
        shanghai: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A session, an audit entry and a fever case closed on the dashboard of a server whose
    zone is Asia/Shanghai, for a command in New York: stored in UTC, shown in New York's
    time, and the case closes after the fever that opened it."""
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path,
                           env={"TZ": "Asia/Shanghai", TZ_ENV: COMMAND_ZONE}).start()
    try:
        engine = server.engine
        compound, user = unique("c"), unique("组长")
        fever_at = utc_naive_now() - timedelta(minutes=10)
        store_events(engine, [_fever(compound, fever_at)])
        admin.add_user(engine, user, "correct horse battery", actor="cli:test")
        with httpx.Client(base_url=server.url) as web:
            r = web.post("/login", data={"user": user, "password": "correct horse battery"})
            assert r.status_code == 303
            assert web.get("/").status_code == 200  # the overview makes the fever a case
            with engine.connect() as conn:
                case_id = conn.execute(select(CASES.c.id)).scalar_one()
            r = web.post(f"/case?id={case_id}", data={"step": "cleared", "note": "阴性"})
            assert r.status_code == 303
            page = web.get(f"/case?id={case_id}").text
        with engine.connect() as conn:
            expires = conn.execute(select(SESSIONS.c.expires_at)).scalar_one()
            created = conn.execute(select(USERS.c.created_at)).scalar_one()
            signed_in = conn.execute(select(AUD.c.at).where(AUD.c.action == "sign_in")
                                     ).scalar_one()
            case = conn.execute(select(CASES).where(CASES.c.id == case_id)).one()
            step = conn.execute(select(STEPS.c.at)).scalar_one()
        # stored: naive UTC (the server's local time was 8 hours ahead)
        assert _near_now(expires, timedelta(hours=SESSION_HOURS)), expires
        for stored in (created, signed_in, case.updated_at, case.closed_at, step):
            assert _near_now(stored), stored
        assert case.opened_utc == fever_at < case.closed_at
        # shown: in the command's zone, on the case page and by the CLI
        command_zone = DashboardSettings(ZoneInfo(COMMAND_ZONE))
        found = case_with_steps(engine, command_zone, case_id)
        assert found is not None
        shown, [shown_step] = found
        assert shown.closed is not None and shown.closed.utcoffset() == \
            command_zone.now().utcoffset()
        assert shown.closed == case.closed_at.replace(tzinfo=UTC) == shown_step.at
        assert f"<dt>结案 / Closed</dt><dd>{shown.closed:%m-%d %H:%M}</dd>" in page
        monkeypatch.setenv(TZ_ENV, "UTC")  # the CLI's --timezone wins over the environment
        out = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "serve", "--db",
                                        server.db_url, "--timezone", COMMAND_ZONE, "audit",
                                        "--action", "sign_in"])
        assert out.exit_code == 0, out.output
        expected = signed_in.replace(tzinfo=UTC).astimezone(ZoneInfo(COMMAND_ZONE))
        assert re.match(rf"{expected:%Y-%m-%d %H:%M:%S%z}\t{user}\tsign_in\t", out.output)
        # a session of 12 hours is accepted now, and expires after 12 hours of UTC
        with httpx.Client(base_url=server.url, cookies=web.cookies) as again:
            assert again.get("/", follow_redirects=False).status_code == 200
            with engine.begin() as conn:
                conn.execute(SESSIONS.update().values(expires_at=utc_naive_now()
                                                      - timedelta(minutes=1)))
            assert again.get("/", follow_redirects=False).status_code == 303
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0015_moves_the_stores_own_times_from_local_time_to_utc(
        shanghai: None, backend: str, tmp_path: Path):
    engine = make_server_engine(database_url(backend, tmp_path))
    cfg = alembic_config()
    local = datetime(2026, 11, 30, 20, 15, 30, 250000)  # 12:15:30.25 UTC, as stored before
    utc = datetime(2026, 11, 30, 12, 15, 30, 250000)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
        conn.execute(insert(AUD).values(at=local, actor="a", action="sign_in", detail="",
                                        client=""))
        conn.execute(insert(SESSIONS).values(token_hash="t" * 64, user="a",
                                             expires_at=local + timedelta(hours=12)))
        conn.execute(insert(USERS).values(name="a", password_hash="x", created_at=local,
                                          role="district"))
        conn.execute(insert(CASES).values(
            event_id="e1", local_date=utc.date(), compound="c", checkpoint="g",
            opened_utc=utc - timedelta(minutes=10), state="cleared", updated_at=local,
            closed_at=local))
        case_id = conn.execute(select(CASES.c.id)).scalar_one()
        conn.execute(insert(STEPS).values(case_id=case_id, step="cleared", at=local, by="a",
                                          note=""))
        for version, by in ((1, "cli:root"), (2, "district")):  # a hub's: already UTC
            conn.execute(insert(RULES).values(version=version, effective_utc=utc, body="{}",
                                              key_id="K", signature="s", published_at=local,
                                              published_by=by, change_id=version))
        conn.execute(insert(HS), [{"key": "uplink.last_success", "value": local.isoformat(
            timespec="seconds")}, {"key": "uplink.url", "value": "https://district/"}])
        command.upgrade(cfg, "0015")
        assert conn.execute(select(AUD.c.at)).scalar_one() == utc
        assert conn.execute(select(SESSIONS.c.expires_at)).scalar_one() == \
            utc + timedelta(hours=12)
        assert conn.execute(select(USERS.c.created_at)).scalar_one() == utc
        case = conn.execute(select(CASES)).one()
        assert (case.updated_at, case.closed_at) == (utc, utc)
        assert case.opened_utc == utc - timedelta(minutes=10)  # the event's: untouched
        assert conn.execute(select(STEPS.c.at)).scalar_one() == utc
        assert dict(conn.execute(select(RULES.c.published_by, RULES.c.published_at)).all()
                    ) == {"cli:root": utc, "district": local}
        assert dict(conn.execute(select(HS.c.key, HS.c.value)).all()) == {
            "uplink.last_success": utc.isoformat(timespec="seconds"),
            "uplink.url": "https://district/"}
        command.downgrade(cfg, "0014")
        assert conn.execute(select(AUD.c.at)).scalar_one() == local
        assert conn.execute(select(CASES.c.closed_at)).scalar_one() == local
        assert conn.execute(text("SELECT value FROM hub_state WHERE key = "
                                 "'uplink.last_success'")).scalar_one() == \
            local.isoformat(timespec="seconds")
        conn.rollback()
    engine.dispose()
