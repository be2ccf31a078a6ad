"""Retention wipes old personal data while the records, the hash chain and the daily counts
stay; the audit log says who exported or purged what; the CLI over all of it."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TODAY
from export_testing import HOSTILE_NAMES, Traffic, make_traffic
from kiosk_testing import run_kiosk

from kiosk.export.nightly import ExportOptions, export_day
from kiosk.store import audit
from kiosk.store.events import PERSONAL_FIELDS, verify_chain
from kiosk.store.retention import purge


@pytest.fixture
def traffic(loaded_store, settings, clock) -> Traffic:
    return make_traffic(loaded_store, settings, clock)


def _summary_bytes(t: Traffic, out: Path) -> bytes:
    result = export_day(t.store.engine, t.day, out, ExportOptions(label="gate-1"))
    return result.files[1].path.read_bytes()


def _personal_left(t: Traffic) -> int:
    cond = " OR ".join(f"({c} IS NOT NULL AND {c} != '')" for c in PERSONAL_FIELDS)
    with t.store.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM gate_events WHERE {cond}").scalar()


def test_purge_wipes_personal_fields_and_keeps_counts_and_chain(traffic: Traffic, tmp_path):
    engine = traffic.store.engine
    before = _summary_bytes(traffic, tmp_path / "before")
    n_events = len(traffic.event_ids) + 2
    report = purge(engine, 2, today=TODAY, actor="test")
    assert report.events == n_events and report.days == [traffic.day]
    assert report.cutoff == TODAY - timedelta(days=2)
    assert _personal_left(traffic) == 0
    assert verify_chain(engine, traffic.settings.device.id) == []
    assert _summary_bytes(traffic, tmp_path / "after") == before
    result = export_day(engine, traffic.day, tmp_path / "rows",
                        ExportOptions(label="g", mask=False))
    with open(result.files[0].path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_events
    assert all(r["姓名"] == "" and r["通行证号"] == "" and r["电话"] == "" for r in rows)
    assert {r["结果"] for r in rows} == {"allow", "deny", "remeasure"}
    (entry,) = audit.entries(engine, action=audit.PURGE)
    assert entry.actor == "test" and json.loads(entry.detail)["events"] == n_events
    assert purge(engine, 2, today=TODAY).events == 0  # nothing left to wipe


def test_wiped_values_are_gone_from_the_database_file(traffic: Traffic):
    db = traffic.store.path
    secret = b"13700001111"  # a visitor's phone: only ever stored in gate_events
    assert secret in db.read_bytes() + _wal(db)
    purge(traffic.store.engine, 2, today=TODAY)
    assert secret not in db.read_bytes() + _wal(db)


def _wal(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_recent_days_and_dry_runs_are_left_alone(traffic: Traffic):
    engine = traffic.store.engine
    dry = purge(engine, 2, today=TODAY, dry_run=True)
    assert dry.dry_run and dry.events == len(traffic.event_ids) + 2
    assert purge(engine, 28, today=TODAY).events == 0
    assert _personal_left(traffic) == len(traffic.event_ids) + 2
    assert audit.entries(engine, action=audit.PURGE) == []


def test_the_cli_exports_catches_up_purges_and_lists_the_audit(traffic: Traffic, data_dir):
    day = traffic.day.isoformat()
    r = run_kiosk(data_dir, "export", "--date", day, "--lang", "en")
    assert r.returncode == 0, r.stderr
    folder = data_dir / "exports" / day
    assert (folder / f"movements_gate-1_{day}.csv").exists()
    assert f"{len(traffic.event_ids) + 2} events" in r.stdout
    r = run_kiosk(data_dir, "export", "--all-missing", "--out", str(data_dir / "all"))
    assert r.returncode == 0, r.stderr
    assert (data_dir / "all" / f"summary_gate-1_{(traffic.day + timedelta(days=1))}.csv").exists()
    r = run_kiosk(data_dir, "export", "--date", day, "--unmasked", "--out",
                  str(data_dir / "command"))
    assert r.returncode == 0 and "audit" in r.stderr
    text = (data_dir / "command" / f"movements_gate-1_{day}.csv").read_text(encoding="utf-8-sig")
    assert HOSTILE_NAMES[0] in text
    # the last events are 3 days old (and this machine's clock may be unsynchronised):
    # a purge of everything is confirmed
    r = run_kiosk(data_dir, "retention", "purge", "--days", "2", "--dry-run")
    assert r.returncode == 1 and "--clock-is-right" in r.stderr
    r = run_kiosk(data_dir, "retention", "purge", "--days", "2", "--dry-run",
                  "--clock-is-right")
    assert r.returncode == 0 and f"would wipe personal data of {len(traffic.event_ids) + 2}" \
        in r.stdout
    r = run_kiosk(data_dir, "retention", "purge", "--days", "2", "--clock-is-right")
    assert r.returncode == 0 and "wiped personal data" in r.stdout
    r = run_kiosk(data_dir, "audit", "list")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and "\tpurge\t" in lines[0]
    assert sum("\texport_unmasked\t" in line for line in lines) == 1
    assert all("\tcli:" in line for line in lines)
    r = run_kiosk(data_dir, "export", "--date", day, "--all-missing")
    assert r.returncode != 0 and "not both" in r.stderr


def test_settings_know_the_export_and_privacy_keys(data_dir):
    r = run_kiosk(data_dir, "config", "set", "export.usb_roots", "/media/*/*,/mnt/usb")
    assert r.returncode == 0, r.stderr
    shown = run_kiosk(data_dir, "config", "show").stdout
    assert '"/media/*/*"' in shown and '"/mnt/usb"' in shown
    assert "retention_days = 28" in shown and 'header_language = "zh"' in shown
    r = run_kiosk(data_dir, "config", "set", "privacy.retention_days", "0")
    assert r.returncode == 1 and "retention_days" in r.stderr


def test_exports_and_purges_are_recorded_in_utc_on_a_kiosk_in_shanghai(
        traffic: Traffic, zone, tmp_path):
    """The run, its audit row and the frozen counts keep UTC (and the audit row the
    kiosk's +8 h), not the local time 8 hours ahead of the events' UTC times."""
    zone("Asia/Shanghai")
    engine = traffic.store.engine
    result = export_day(engine, traffic.day, tmp_path / "out",
                        ExportOptions(label="g", actor="cli:test"))
    purge(engine, 2, today=TODAY, actor="cli:test")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        kept = conn.exec_driver_sql(
            "SELECT at FROM audit_log UNION ALL SELECT finished_at FROM export_runs "
            "UNION ALL SELECT frozen_at FROM daily_summaries").scalars().all()
        offsets = conn.exec_driver_sql("SELECT utc_offset_min FROM audit_log").scalars().all()
    assert len(kept) >= 4 and offsets == [480, 480]
    assert all(abs(datetime.fromisoformat(t) - now) < timedelta(minutes=2) for t in kept)
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert manifest["exported_at"].endswith("+08:00")  # the file says the kiosk's time
