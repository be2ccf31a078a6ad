"""The nightly files as the command receives them: read back by two independent readers,
hostile values inert, masks applied, counts right, manifest matching the files."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from export_testing import HOSTILE_NAMES, Traffic, make_traffic, parse_rfc4180

from kiosk.core.model import Direction
from kiosk.core.privacy import mask_phone
from kiosk.core.screening import make_reading
from kiosk.export.columns import MOVEMENTS
from kiosk.export.csvfile import FORMULA_STARTS, neutralise, write_csv
from kiosk.export.nightly import ExportOptions, export_day
from kiosk.export.summary import SUMMARY_KEYS
from kiosk.gate import Gate
from kiosk.store import audit

COL = {c.key: i for i, c in enumerate(MOVEMENTS)}


@pytest.fixture
def traffic(loaded_store, settings, clock) -> Traffic:
    return make_traffic(loaded_store, settings, clock)


def read_csv_module(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def export(t: Traffic, out: Path, **kw: object) -> tuple[Path, Path, dict[str, object]]:
    opts = ExportOptions(label=t.settings.checkpoint.id, actor="test", **kw)  # type: ignore[arg-type]
    result = export_day(t.store.engine, t.day, out, opts)
    manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
    return result.files[0].path, result.files[1].path, manifest


def test_both_readers_give_the_same_rows_and_every_name_survives(traffic: Traffic, tmp_path):
    movements, summary, _ = export(traffic, tmp_path, mask=False, lang="en")
    for path in (movements, summary):
        assert parse_rfc4180(path.read_bytes()) == read_csv_module(path)
    rows = read_csv_module(movements)
    assert rows[0] == [c.en for c in MOVEMENTS]
    people = [r[COL["person"]] for r in rows[1:]]
    for name in HOSTILE_NAMES + ["访客,甲", "=1+1"]:
        assert neutralise(name) in people, name
    assert "赵\n换行" in people and "Zoë 😷 emoji" in people and "王,逗号" in people
    assert len(rows) - 1 == len(traffic.event_ids) + 2


def test_no_cell_starts_like_a_formula(traffic: Traffic, tmp_path):
    for mask in (True, False):
        movements, summary, _ = export(traffic, tmp_path / str(mask), mask=mask)
        for path in (movements, summary):
            for row in read_csv_module(path):
                for cell in row:
                    assert not cell or cell[0] not in FORMULA_STARTS, (path.name, cell)
        people = [r[COL["person"]] for r in read_csv_module(movements)]
        if not mask:
            assert "'=HYPERLINK(\"http://x\")" in people and "'+cmd|' /C calc'!A0" in people
            assert "'-2+3" in people and "'@SUM(A1)" in people and "'\tTAB" in people


def test_the_file_opens_in_excel_terms_bom_crlf_and_chinese_header(traffic: Traffic, tmp_path):
    movements, summary, _ = export(traffic, tmp_path)
    data = movements.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf\xe6\x97\xb6\xe9\x97\xb4,")  # BOM + 时间
    # every record ends in CRLF; the only bare LF is the one inside the quoted name
    assert data.endswith(b"\r\n") and data.replace(b"\r\n", b"").count(b"\n") == 0
    assert read_csv_module(summary)[0][:3] == ["日期", "卡口", "进入"]


def test_personal_data_is_masked_by_default(traffic: Traffic, tmp_path):
    movements, _, manifest = export(traffic, tmp_path)
    assert manifest["masked"] is True
    rows = read_csv_module(movements)[1:]
    text = movements.read_text(encoding="utf-8-sig")
    for full in ("张三明", "13800000000", "R0001", "王,逗号", "13700001111"):
        assert full not in text
    zhang = next(r for r in rows if r[COL["person"]] == "张*明")
    assert zhang[COL["phone"]] == mask_phone("13800000000") == "138****0000"
    assert zhang[COL["pass_number"]] == "R**01"
    assert zhang[COL["building"]] == "3" and zhang[COL["room"]] == "402"
    plus = [r[COL["phone"]] for r in rows if r[COL["phone"]].startswith("'+86")]
    assert plus and all("*" in p for p in plus)
    entries = audit.entries(traffic.store.engine, action=audit.EXPORT)
    assert entries and json.loads(entries[0].detail)["masked"] is True


def test_the_unmasked_copy_is_audited_as_such(traffic: Traffic, tmp_path):
    movements, _, manifest = export(traffic, tmp_path, mask=False)
    assert manifest["masked"] is False and "张三明" in movements.read_text(encoding="utf-8-sig")
    (entry,) = audit.entries(traffic.store.engine, action=audit.EXPORT_UNMASKED)
    assert entry.actor == "test" and str(traffic.day) in entry.detail


def test_movement_rows_carry_time_temperatures_decision_and_chain_position(traffic, tmp_path):
    movements, _, _ = export(traffic, tmp_path, lang="en")
    rows = read_csv_module(movements)[1:]
    first = rows[0]
    assert first[COL["time"]] == f"{traffic.day} 08:00:00"
    assert first[COL["direction"]] == "out" and first[COL["decision"]] == "allow"
    assert first[COL["temp1_c"]] == "36.5" and first[COL["temp1_source"]] == "device"
    assert first[COL["clock"]] == "trusted" and first[COL["seq"]] == "1"
    assert first[COL["event_id"]] == traffic.event_ids[0]
    assert first[COL["person_type"]] == "resident"
    fever = next(r for r in rows if r[COL["reason"]] == "fever")
    assert (fever[COL["temp1_c"]], fever[COL["temp2_c"]]) == ("37.8", "37.9")
    assert fever[COL["reason_zh"]] == "体温异常，请联系组长" and fever[COL["escalated"]] == "1"
    quota = next(r for r in rows if r[COL["reason"]] == "quota_used")
    assert quota[COL["decision"]] == "deny" and quota[COL["reason_en"]].startswith("Household")
    visitor = next(r for r in rows if r[COL["person_type"]] == "visitor")
    assert visitor[COL["building"]] == "3" and visitor[COL["temp1_source"]] == "manual"
    assert [int(r[COL["seq"]]) for r in rows] == list(range(1, len(rows) + 1))


def test_the_summary_counts_the_day(traffic: Traffic, tmp_path):
    _, summary, _ = export(traffic, tmp_path, lang="en")
    head, row = read_csv_module(summary)
    counts = dict(zip(head, row, strict=True))
    n_hostile = len(HOSTILE_NAMES)
    assert counts["date"] == str(traffic.day) and counts["checkpoint"] == "gate-1"
    assert int(counts["exits"]) == 2 + n_hostile  # 张三明, 王五, the hostile people
    assert int(counts["entries"]) == 1 + 2  # 张三明 back, two visitors
    assert int(counts["unique_residents"]) == 2 + n_hostile  # 张三明, 王五 (李四 denied)
    assert int(counts["visitors"]) == 2
    assert int(counts["confirmed_fevers"]) == 1 and int(counts["remeasures"]) == 1
    assert int(counts["deny_quota_used"]) == 1 and int(counts["deny_unknown_pass"]) == 1
    assert int(counts["deny_fever"]) == 1 and int(counts["denials"]) == 3
    assert int(counts["still_out"]) == 1 + n_hostile  # 王五 and the hostile people
    assert head[2:] == list(SUMMARY_KEYS)


def test_still_out_looks_back_over_earlier_days(traffic: Traffic, tmp_path):
    # nothing happens the next day, yet 王五 and the others are still out at its end
    nxt = traffic.day + timedelta(days=1)
    opts = ExportOptions(label="gate-1", lang="en")
    result = export_day(traffic.store.engine, nxt, tmp_path, opts)
    head, row = read_csv_module(result.files[1].path)
    counts = dict(zip(head, row, strict=True))
    assert int(counts["still_out"]) == 1 + len(HOSTILE_NAMES) and int(counts["exits"]) == 0
    assert result.events == 0 and len(read_csv_module(result.files[0].path)) == 1


def test_the_manifest_matches_the_files(traffic: Traffic, tmp_path):
    movements, summary, manifest = export(traffic, tmp_path)
    assert manifest["format"] == "checkpoint-kiosk-export/1"
    assert manifest["date"] == str(traffic.day) and manifest["software_version"]
    by_name = {f["name"]: f for f in manifest["files"]}
    for path, rows in ((movements, len(traffic.event_ids) + 2), (summary, 1)):
        entry = by_name[path.name]
        data = path.read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data) and entry["rows"] == rows
    (device,) = manifest["devices"]
    assert device == {"device_id": traffic.settings.device.id, "first_seq": 1,
                      "last_seq": len(traffic.event_ids) + 2,
                      "events": len(traffic.event_ids) + 2}
    sums = tmp_path / f"SHA256SUMS_gate-1_{traffic.day}.txt"
    if shutil.which("sha256sum"):
        r = subprocess.run(["sha256sum", "-c", sums.name], cwd=tmp_path, capture_output=True,
                           text=True)
        assert r.returncode == 0 and r.stdout.count(": OK") == 3, r.stdout
    assert not list(tmp_path.glob("*.part"))


def test_the_sqlite3_cli_imports_the_same_rows(traffic: Traffic, tmp_path):
    if shutil.which("sqlite3") is None:
        pytest.skip("sqlite3 command-line tool not installed")
    movements, _, _ = export(traffic, tmp_path, mask=False, lang="en")
    plain = tmp_path / "plain.csv"
    plain.write_bytes(movements.read_bytes()[3:])  # the CLI does not expect a BOM
    db = tmp_path / "imported.sqlite3"
    subprocess.run(["sqlite3", str(db), ".import --csv " + str(plain) + " m"], check=True)
    con = sqlite3.connect(db)
    got = [list(r) for r in con.execute("SELECT * FROM m ORDER BY rowid")]
    con.close()
    assert got == read_csv_module(movements)[1:]


def test_write_csv_neutralises_text_but_not_numbers(tmp_path):
    f = write_csv(tmp_path / "x.csv", ["a", "=b"], [["-1", -1.5], ["@x", 2], ["ok", None]])
    assert read_csv_module(f.path) == [["a", "'=b"], ["'-1", "-1.5"], ["'@x", "2"], ["ok", ""]]
    assert f.rows == 3 and f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()


def test_rows_are_streamed_in_chunks(traffic: Traffic, tmp_path):
    seen: list[int] = []
    opts = ExportOptions(label="gate-1", progress=seen.append, chunk_rows=4)
    result = export_day(traffic.store.engine, traffic.day, tmp_path, opts)
    assert sum(seen) == result.events and max(seen) == 4 and len(seen) > 2


def test_an_unwritable_directory_is_a_recorded_failure(traffic: Traffic, tmp_path):
    from kiosk.export.nightly import ExportError, last_exported

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError):
        export_day(traffic.store.engine, traffic.day, blocker / "sub",
                   ExportOptions(label="gate-1"))
    assert last_exported(traffic.store.engine) is None
    with traffic.store.engine.connect() as conn:
        status = conn.exec_driver_sql("SELECT status FROM export_runs").scalar()
    assert status == "failed"


# --- issue 12.1: every text cell is neutralised, the kiosk's "own" columns too ---------------
#: what a hostile device or a tampered database might hold; one per formula start
PAYLOADS = ("=1+2", "+1+1", "-1+1", "@SUM(1)", "\t=1", "\r=1", "＝1", "＋1",
            "=cmd|'/c calc'!A0", '=HYPERLINK("http://x")')
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def excel_runs(cell: str) -> bool:
    """Whether a spreadsheet would evaluate this CSV cell: it starts like a formula and is not
    a plain number (a number such as -1.5 is read as the number)."""
    return bool(cell) and cell[0] in FORMULA_STARTS and not _NUMBER.fullmatch(cell)


def _plant_formulas(store_path: Path, day: str) -> list[str]:
    """Write formula values into every text column that reaches the movement file, with raw
    INSERTs (the gate's validation bypassed; the append-only triggers forbid only UPDATE and
    DELETE). Returns the planted event ids."""
    con = sqlite3.connect(store_path)
    con.row_factory = sqlite3.Row
    template = dict(con.execute("SELECT * FROM gate_events WHERE local_date = ? LIMIT 1",
                                [day]).fetchone())
    reading = dict(con.execute("SELECT * FROM readings WHERE event_id = ?",
                               [template["id"]]).fetchone())
    ids = []
    with con:
        for i, p in enumerate(PAYLOADS):
            rid = con.execute("INSERT INTO residents (name, building, unit, room, household, "
                              "phone, updated_at) VALUES (?,?,?,?,?,?,?)",
                              [p, p, p, p, p, p, template["wall_utc"]]).lastrowid
            vid = con.execute("INSERT INTO volunteers (name, role, pin_hash, active, "
                              "failed_attempts) VALUES (?, ?, 'x', 1, 0)",
                              [f"{p}{i}", p]).lastrowid
            row = dict(template, id=f"{p}{i}", seq=p, direction=p, clock_state=p, checkpoint=p,
                       device_id=p, outcome=p, reason=p, pass_kind=p, pass_number=p,
                       identified_by=p, escalated=p, corrects_event_id=p, resident_id=rid,
                       volunteer_id=vid, visitor_name=p, visitor_phone=p, host_building=p)
            con.execute(f"INSERT INTO gate_events ({','.join(row)}) "
                        f"VALUES ({','.join('?' * len(row))})", list(row.values()))
            for ordinal in (1, 2):
                r = dict(reading, event_id=row["id"], ordinal=ordinal, source=p, used_c=p,
                         state=p)
                con.execute(f"INSERT INTO readings ({','.join(r)}) "
                            f"VALUES ({','.join('?' * len(r))})", list(r.values()))
            ids.append(row["id"])
    con.close()
    return ids


@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
def test_formulas_planted_in_the_kiosks_own_columns_are_neutralised(traffic: Traffic, tmp_path,
                                                                   mask: bool):
    ids = _plant_formulas(Path(traffic.store.engine.url.database or ""), traffic.day.isoformat())
    movements, summary, _ = export(traffic, tmp_path, mask=mask, lang="en")
    rows = read_csv_module(movements)  # RFC 4180, as a spreadsheet splits the cells
    planted = {r[COL["event_id"]][1:]: r for r in rows if r[COL["event_id"]][1:] in ids}
    assert len(planted) == len(PAYLOADS)
    for path in (movements, summary):
        live = [(path.name, cell) for row in read_csv_module(path) for cell in row
                if excel_runs(cell)]
        assert live == []
    # the payloads did reach the file, as inert text
    own = ("direction", "decision", "reason", "clock", "event_id", "device_id", "seq",
           "escalated", "temp1_source", "temp2_source", "corrects_event_id", "checkpoint",
           "pass_kind", "volunteer", "unit", "room", "building")
    for event_id, p in zip(ids, PAYLOADS, strict=True):
        row = planted[event_id]
        for key in own:
            assert row[COL[key]].startswith("'" + p[:1]), (key, row[COL[key]])


def test_a_movement_undone_at_the_gate_is_listed_marked_and_counted_nowhere(
        traffic: Traffic, tmp_path):
    """王五 (out, stays out) is recorded back IN by mistake and the volunteer undoes it: both
    records stay in the movement file, the original marked with its correction, and the
    summary counts no entry and still has 王五 out (issue 11)."""
    t = traffic
    gate = Gate(t.store, t.settings, clock=t.clock.sample, os_synced=lambda: t.clock.synced)
    mistaken = gate.check("R0003", [make_reading(36.5)], direction=Direction.IN)
    assert mistaken.decision.allowed
    t.clock.advance(20)
    undo = gate.undo(mistaken.event.id)
    gate.close()
    movements, summary, _ = export(t, tmp_path, lang="en")
    rows = {r[COL["event_id"]]: r for r in read_csv_module(movements)[1:]}
    assert rows[mistaken.event.id][COL["decision"]] == "allow"
    assert rows[mistaken.event.id][COL["undone_by"]] == undo.event.id
    assert rows[undo.event.id][COL["decision"]] == "undo"
    assert rows[undo.event.id][COL["corrects_event_id"]] == mistaken.event.id
    assert rows[undo.event.id][COL["undone_by"]] == ""
    head, row = read_csv_module(summary)
    counts = dict(zip(head, row, strict=True))
    assert int(counts["entries"]) == 1 + 2  # as before: 张三明 back, two visitors
    assert int(counts["still_out"]) == 1 + len(HOSTILE_NAMES)  # 王五 is still out
    assert int(counts["denials"]) == 3  # an undo is no denial
