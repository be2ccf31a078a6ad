"""The ``kiosk`` command as an admin or a script uses it: real processes, real files."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import ROSTER_HEADER, roster_line
from kiosk_testing import run_kiosk

COMMANDS = [
    (), ("config",), ("config", "show"), ("config", "set"), ("db",), ("db", "upgrade"),
    ("db", "check"), ("db", "backup"), ("residents",), ("residents", "import"),
    ("residents", "list"), ("residents", "find"), ("volunteers",), ("volunteers", "add"),
    ("volunteers", "list"), ("check",), ("demo",),
]


@pytest.fixture
def imported(data_dir: Path, roster_file: Path) -> Path:
    r = run_kiosk(data_dir, "residents", "import", str(roster_file))
    assert r.returncode == 0, r.stderr
    return data_dir


def test_every_command_has_help(data_dir: Path):
    from click.testing import CliRunner

    from kiosk.cli import main

    runner = CliRunner()
    for cmd in COMMANDS:
        r = runner.invoke(main, ["--data-dir", str(data_dir), *cmd, "--help"])
        assert r.exit_code == 0 and "Usage:" in r.output, (cmd, r.output)
    # and the installed entry point really starts
    assert run_kiosk(data_dir, "--help").returncode == 0


def test_config_show_prints_the_settings_file(data_dir: Path):
    r = run_kiosk(data_dir, "config", "show")
    assert r.returncode == 0
    assert "fever_threshold_c = 37.3" in r.stdout and str(data_dir) in r.stdout
    r = run_kiosk(data_dir, "config", "set", "screening.fever_threshold_c", "warm")
    assert r.returncode == 1 and "must be a float" in r.stderr
    r = run_kiosk(data_dir, "config", "set", "quota.days", "3")
    assert r.returncode == 0
    assert "days = 3" in run_kiosk(data_dir, "config", "show").stdout


def test_check_allows_denies_and_asks_for_a_remeasure_with_exit_codes(imported: Path):
    ok = run_kiosk(imported, "check", "R0003", "--temp", "36.6", "--direction", "out", "--json")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["outcome"] == "allow" and out["name"] == "王五" and out["seq"] == 1
    back = run_kiosk(imported, "check", "R0003", "--temp", "36.6", "--json")
    assert json.loads(back.stdout)["direction"] == "in"  # defaults from the last movement
    high = run_kiosk(imported, "check", "R0001", "--temp", "37.9", "--direction", "in")
    assert high.returncode == 4 and "请复测" in high.stdout
    fever = run_kiosk(imported, "check", "R0001", "--temp", "37.9", "--temp", "38.1",
                      "--direction", "in", "--json")
    assert fever.returncode == 3
    assert json.loads(fever.stdout)["reason"] == "fever" and json.loads(fever.stdout)["escalate"]
    expired = run_kiosk(imported, "check", "R0004", "--temp", "36.5")
    assert expired.returncode == 3 and "通行证已过期" in expired.stdout
    # the refusal explains itself: the pass's dates, the number scanned, the next outing
    last_day = (date.today() - timedelta(days=1)).isoformat()
    assert f"至 {last_day}" in expired.stdout and f"to {last_day}" in expired.stdout
    unknown = run_kiosk(imported, "check", "X404", "--temp", "36.5")
    assert unknown.returncode == 3 and "No valid pass" in unknown.stdout
    assert "证号：X404" in unknown.stdout and "Pass no.: X404" in unknown.stdout
    assert run_kiosk(imported, "check", "R0001", "--temp", "36.5", "--direction", "out"
                     ).returncode == 0
    quota = run_kiosk(imported, "check", "R0002", "--temp", "36.5", "--direction", "out",
                      "--json")
    assert quota.returncode == 3, quota.stderr
    out = json.loads(quota.stdout)
    today = date.today()
    assert out["reason"] == "quota_used" and f"上次外出 {today:%m-%d} " in out["detail_zh"]
    assert out["detail_en"].endswith(f"next outing from {today + timedelta(days=2):%m-%d}")
    chain = run_kiosk(imported, "db", "check")
    assert chain.returncode == 0 and "ok" in chain.stdout


def test_check_records_a_fever_behind_an_expired_pass(imported: Path):
    """``kiosk check <expired> --temp 38.5 --temp 38.6``: refused for the pass, and the fever
    is recorded, escalated and said."""
    r = run_kiosk(imported, "check", "R0004", "--temp", "38.5", "--temp", "38.6",
                  "--direction", "in", "--json")
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    assert (out["reason"], out["escalate"], out["findings"]) == (
        "expired", True, ["expired", "fever"])
    con = sqlite3.connect(imported / "kiosk.sqlite3")
    try:
        rows = con.execute("select outcome, reason, escalated from gate_events").fetchall()
    finally:
        con.close()
    assert rows == [("deny", "expired", 1)]


def test_check_records_the_volunteer_on_duty(imported: Path):
    add = run_kiosk(imported, "volunteers", "add", "李静", "--pin", "2468135")
    assert add.returncode == 0, add.stderr
    r = run_kiosk(imported, "check", "R0003", "--temp", "36.5", "--volunteer", "李静")
    assert r.returncode == 0
    nobody = run_kiosk(imported, "check", "R0003", "--temp", "36.5", "--volunteer", "无名")
    assert nobody.returncode == 1 and "no volunteer named" in nobody.stderr
    bad_pin = run_kiosk(imported, "volunteers", "add", "王", "--pin", "12")
    assert bad_pin.returncode == 1 and "7 to 8 digits" in bad_pin.stderr


def test_roster_import_reports_rejected_rows_and_imports_nothing(data_dir: Path, tmp_path):
    f = tmp_path / "r.csv"
    f.write_text(ROSTER_HEADER + roster_line("甲", "1", "1", "101", "R1")
                 + roster_line("乙", "1", "1", "102", "R2", kind="martian"), encoding="utf-8")
    r = run_kiosk(data_dir, "residents", "import", str(f))
    assert r.returncode == 1
    assert f"{f}:3: rejected" in r.stderr and "nothing was imported" in r.stderr
    assert run_kiosk(data_dir, "residents", "find", "甲").returncode == 1
    r = run_kiosk(data_dir, "residents", "import", str(f), "--accept-valid")
    assert r.returncode == 0 and "1 rejected" in r.stdout
    assert "R1" in run_kiosk(data_dir, "residents", "find", "甲").stdout


def test_residents_list_and_find(imported: Path):
    listing = run_kiosk(imported, "residents", "list", "--building", "3")
    assert listing.returncode == 0
    assert {"张三明", "李四", "王五"} <= set(re.findall(r"[\u4e00-\u9fff]+", listing.stdout))
    assert "R0003" in run_kiosk(imported, "residents", "find", "3-2-101").stdout
    assert "W0001" in run_kiosk(imported, "residents", "find", "w0001").stdout


def test_a_damaged_database_stops_the_kiosk_with_a_clear_message(imported: Path):
    run_kiosk(imported, "db", "backup")
    db = imported / "kiosk.sqlite3"
    with open(db, "r+b") as fh:
        fh.write(b"garbage!" * 512)
    r = run_kiosk(imported, "check", "R0003", "--temp", "36.5")
    assert r.returncode == 5
    assert "damaged" in r.stderr and "backups" in r.stderr and "kiosk-" in r.stderr


def test_demo_creates_the_compound_once_and_reuses_it(data_dir: Path):
    first = run_kiosk(data_dir, "demo", "--no-app", timeout=300)
    assert first.returncode == 0, first.stderr
    n = int(re.search(r"demo compound: (\d+) people in 99 buildings", first.stdout).group(1))
    assert 19_000 <= n <= 23_000
    assert len(re.findall(r"PIN \d{6}", first.stdout)) == 3
    second = run_kiosk(data_dir, "demo", "--no-app", timeout=300)
    assert second.returncode == 0
    assert f"demo compound: {n} people" in second.stdout and "(0 new passes" in second.stdout
    # every suggested command really works on the demo compound
    for line in first.stdout.splitlines():
        m = re.match(r"\s+kiosk --data-dir \S+ (check .*?)\s+# (.*)", line)
        if m:
            r = run_kiosk(data_dir, *m.group(1).split())
            expected = 3 if ("expired" in m.group(2) or "fever" in m.group(2)) else 0
            assert r.returncode == expected, (line, r.stdout, r.stderr)


def test_every_lookup_is_written_to_the_audit_log(imported: Path):
    assert run_kiosk(imported, "residents", "find", "王五").returncode == 0
    log = run_kiosk(imported, "audit", "list")
    assert log.returncode == 0
    assert "lookup" in log.stdout and "王五" in log.stdout and "cli:" in log.stdout
