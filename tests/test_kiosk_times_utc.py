"""The kiosk keeps the times it takes of itself in naive UTC, as its events' ``wall_utc``,
whatever its zone: a kiosk set up in one zone and switched to another (a Pi in UTC set to
Asia/Shanghai), or crossing daylight saving, kept an audit trail in local time whose order
and times disagreed with its events. People see the times in the kiosk's zone; kiosk
migration 0010 moves the rows written before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from click.testing import CliRunner

from kiosk.cli import main
from kiosk.gate import Gate
from kiosk.store import audit
from kiosk.store.db import Store, alembic_config, make_engine
from kiosk.store.passkeys import revoke


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _shown(naive_utc: datetime, zone: str, fmt: str = "%Y-%m-%d %H:%M:%S%z") -> str:
    return naive_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).strftime(fmt)


def _cli(data_dir: Path, *args: str) -> list[str]:
    out = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    assert out.exit_code == 0, out.output
    return out.output.splitlines()


def test_a_kiosk_switched_to_another_zone_keeps_its_audit_trail_in_utc_and_in_order(
        zone: Callable[[str], None], gate: Gate, loaded_store: Store, data_dir: Path):
    """A look-up on a kiosk in Asia/Shanghai, then the Pi is set to UTC and another follows:
    both are kept in UTC (with the offset of the moment), the newest is listed first, and
    ``kiosk audit list`` shows them in the zone the kiosk has now."""
    zone("Asia/Shanghai")
    gate.search("王五")
    revoke(loaded_store.engine, "R0003", "lost")
    zone("UTC")
    gate.search("李四")
    with loaded_store.engine.connect() as conn:
        kept = conn.exec_driver_sql("SELECT at, utc_offset_min, detail FROM audit_log "
                                    "WHERE action = 'lookup' ORDER BY id").all()
        revoked_at = datetime.fromisoformat(conn.exec_driver_sql(
            "SELECT revoked_at FROM revocations").scalar_one())
    (first, first_offset, first_detail), (second, second_offset, _) = kept
    first_at, second_at = datetime.fromisoformat(first), datetime.fromisoformat(second)
    assert "王五" in first_detail
    for at in (first_at, second_at, revoked_at):
        assert abs(at - _utc_now()) < timedelta(minutes=2), "not kept in UTC"
    assert (first_offset, second_offset) == (480, 0)
    # the true order: the later look-up is the newest (in local time it was 8 h older)
    newest = audit.entries(loaded_store.engine, action=audit.LOOKUP)
    assert [e.at for e in newest] == [second_at, first_at]
    assert newest[1].utc_offset_min == 480
    # the admin reads them in the kiosk's zone, whatever it was when they were written
    zone("America/New_York")
    lines = _cli(data_dir, "audit", "list", "--action", "lookup")
    assert [line.split("\t")[0] for line in lines] == [
        _shown(second_at, "America/New_York"), _shown(first_at, "America/New_York")]
    (listed,) = _cli(data_dir, "passes", "revocations")
    assert listed.split("\t")[:2] == ["R0003",
                                      _shown(revoked_at, "America/New_York", "%Y-%m-%d %H:%M%z")]


def test_a_time_without_its_zone_is_refused_not_guessed(loaded_store: Store):
    with loaded_store.engine.begin() as conn, pytest.raises(ValueError, match="zone"):
        audit.record_in(conn, "cli:test", audit.LOOKUP, "", datetime(2026, 11, 30, 12))


#: local times written before 0010 in New York (summer: UTC-4, winter: UTC-5), the UTC
#: times and offsets they become
_BEFORE = {"summer": "2026-07-01 12:00:00.250000", "winter": "2026-01-15 12:00:00.000000"}
_AFTER = {"summer": ("2026-07-01 16:00:00.250000", -240),
          "winter": ("2026-01-15 17:00:00.000000", -300)}


def test_migration_0010_moves_older_rows_from_the_kiosks_local_time_to_utc(
        zone: Callable[[str], None], tmp_path: Path):
    zone("America/New_York")
    engine = make_engine(tmp_path / "k.sqlite3")
    cfg = alembic_config()
    summer, winter = _BEFORE["summer"], _BEFORE["winter"]
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
        sql = conn.exec_driver_sql
        for at, detail in ((summer, "summer"), (winter, "winter")):
            sql("INSERT INTO audit_log (at, actor, action, detail) VALUES (?, 'cli:a', "
                "'lookup', ?)", (at, detail))
        sql("INSERT INTO export_runs VALUES ('2026-06-30', ?, '/x', 'ok', '')", (summer,))
        sql("INSERT INTO daily_summaries VALUES ('2026-01-14', 'g', '{}', ?)", (winter,))
        sql("INSERT INTO pass_keys VALUES ('K1', ?, ?, 1)", ("ab" * 32, summer))
        sql("INSERT INTO revocations VALUES ('R1', ?, '', 'local')", (winter,))
        sql("INSERT INTO rule_sets VALUES (1, ?, '{}', 'K1', 's', ?)",
            ("2026-07-01 00:00:00.000000", summer))
        sql("INSERT INTO residents (id, name, building, unit, room, household, phone, "
            "updated_at) VALUES (1, 'a', '', '', '', '', '', ?)", (winter,))
        sql("INSERT INTO passes (number, kind, valid_from, valid_to, revoked, resident_id, "
            "updated_at) VALUES ('R1', 'resident', '2026-01-01', '2026-12-31', 0, 1, ?)",
            (summer,))
        command.upgrade(cfg, "0010")
        assert dict((d, (at, off)) for d, at, off in sql(
            "SELECT detail, at, utc_offset_min FROM audit_log")) == _AFTER
        summer_utc, winter_utc = _AFTER["summer"][0], _AFTER["winter"][0]
        assert [tuple(r) for r in sql(
            "SELECT (SELECT finished_at FROM export_runs), (SELECT frozen_at FROM "
            "daily_summaries), (SELECT added_at FROM pass_keys), (SELECT revoked_at FROM "
            "revocations), (SELECT received_at FROM rule_sets), (SELECT effective_utc FROM "
            "rule_sets), (SELECT updated_at FROM residents), (SELECT updated_at FROM passes)")
        ] == [(summer_utc, winter_utc, summer_utc, winter_utc, summer_utc,
               "2026-07-01 00:00:00.000000", winter_utc, summer_utc)]
        conn.commit()
        # the admin still reads the times as they were written
        shown = {e.detail: e.at for e in audit.entries(engine)}
        assert {d: _shown(at, "America/New_York", "%Y-%m-%d %H:%M:%S.%f")
                for d, at in shown.items()} == {"summer": summer[:26], "winter": winter[:26]}
        command.downgrade(cfg, "0009")
        assert dict(sql("SELECT detail, at FROM audit_log").all()) == _BEFORE
        assert [tuple(r) for r in sql(
            "SELECT (SELECT finished_at FROM export_runs), (SELECT revoked_at FROM "
            "revocations)")] == [(summer, winter)]
        conn.rollback()
    engine.dispose()
