"""Importing the roster the community office really has: GBK from Excel, UTF-8 with BOM,
Chinese headers, and mistakes that must be reported by line, never half-imported."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ROSTER_HEADER, TODAY, roster_line
from sqlalchemy import text

from kiosk.store.importer import RosterError, import_roster

CHINESE_HEADER = "姓名,楼栋,单元,房号,户号,电话,通行证号,类别,有效期起,有效期止\n"


def counts(store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (conn.execute(text("SELECT count(*) FROM residents")).scalar_one(),
                conn.execute(text("SELECT count(*) FROM passes")).scalar_one())


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_rosters_in_utf8_bom_and_gbk_with_chinese_headers(store, tmp_path: Path, encoding):
    body = (CHINESE_HEADER + roster_line("欧阳娜娜", "12", "3", "402", "R100", kind="居民")
            + roster_line("铁路张", "8", "1", "101", "W100", kind="worker"))
    f = tmp_path / "roster.csv"
    f.write_bytes(body.encode(encoding))
    report = import_roster(store.engine, f)
    assert report.committed and report.passes_added == 2 and not report.rejected
    with store.engine.connect() as conn:
        row = conn.execute(text(
            "SELECT r.name, r.household, p.kind FROM residents r JOIN passes p "
            "ON p.resident_id = r.id WHERE p.number='R100'")).one()
    # the household defaults to building-unit-room when the column is empty
    assert tuple(row) == ("欧阳娜娜", "12-3-402", "resident")


def test_bad_rows_are_reported_with_line_numbers_and_nothing_is_imported(store, tmp_path):
    f = tmp_path / "roster.csv"
    f.write_text(
        ROSTER_HEADER
        + roster_line("好人", "1", "1", "101", "R1")
        + "坏日期,1,1,102,,,R2,resident,2020-02-30,2020-03-01\n"
        + roster_line("", "1", "1", "103", "R3")
        + roster_line("怪类别", "1", "1", "104", "R4", kind="alien")
        + roster_line("重复", "1", "1", "105", "R1")
        + roster_line("无房号", "", "", "", "R5")
        + roster_line("倒序", "1", "1", "106", "R6", valid_from=TODAY,
                      valid_to=TODAY - timedelta(days=1)),
        encoding="utf-8",
    )
    report = import_roster(store.engine, f)
    assert not report.committed
    lines = {line: reason for line, reason in report.rejected}
    assert sorted(lines) == [3, 4, 5, 6, 7, 8]
    assert "valid_from" in lines[3] and "name" in lines[4] and "alien" in lines[5]
    assert "already on line 2" in lines[6] and "room" in lines[7] and "before" in lines[8]
    assert counts(store) == (0, 0)
    # the volunteer can choose to take the good rows anyway
    report = import_roster(store.engine, f, accept_valid=True)
    assert report.committed and counts(store) == (1, 1)


def test_reimporting_updates_and_never_duplicates(store, roster_file: Path, tmp_path: Path):
    first = import_roster(store.engine, roster_file)
    again = import_roster(store.engine, roster_file)
    assert counts(store) == (7, 7)
    assert again.unchanged == first.rows and again.passes_added == 0
    changed = tmp_path / "changed.csv"
    changed.write_text(
        ROSTER_HEADER + roster_line("张三明", "3", "1", "402", "R0001", household="3-1-402",
                                    phone="13900000000", valid_to=TODAY + timedelta(days=60)),
        encoding="utf-8")
    report = import_roster(store.engine, changed)
    assert report.residents_updated == 1 and report.passes_updated == 1
    assert counts(store) == (7, 7)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        ("姓名,电话\n张三,1\n".encode(), "missing columns"),
        (b"\xff\xfe\x00\x00garbage\x81", "neither UTF-8 nor GBK"),
    ],
)
def test_a_file_that_is_not_a_roster_gets_a_clear_message(store, tmp_path, content, message):
    f = tmp_path / "bad.csv"
    f.write_bytes(content)
    with pytest.raises(RosterError, match=message):
        import_roster(store.engine, f)
    assert counts(store) == (0, 0)


def test_names_with_commas_and_quotes_survive(store, tmp_path):
    f = tmp_path / "q.csv"
    f.write_text(ROSTER_HEADER + '"Li, ""Lily""",1,1,101,,,R9,resident,2020-01-01,2030-01-01\n',
                 encoding="utf-8")
    assert import_roster(store.engine, f).committed
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM residents")).scalar_one() == 'Li, "Lily"'


@pytest.mark.parametrize("poison", ["\x00", "\x1b[31m", "\r", "\x7f", "\x85"])
def test_a_control_character_in_any_cell_refuses_the_whole_file_with_its_line(
        store, tmp_path, poison):
    """A NUL or escape byte in a roster cell would be stored and written raw into the CSV
    export: the file is refused, the line named, nothing stored."""
    f = tmp_path / "roster.csv"
    f.write_text(ROSTER_HEADER + roster_line("好人", "1", "1", "101", "R1")
                 + roster_line("好人二", "1", "1", "102", "R2", phone='"138' + poison + '0"')
                 + roster_line('"坏' + poison + '名"', "1", "1", "103", "R3"),
                 encoding="utf-8", newline="")
    report = import_roster(store.engine, f)
    assert not report.committed
    # the line where each bad row starts (a quoted line break moves the next row down)
    assert [line for line, _ in report.rejected] == ([3, 5] if poison == "\r" else [3, 4])
    assert all("control character" in why for _, why in report.rejected)
    assert counts(store) == (0, 0)


def test_the_cli_names_the_line_of_a_nul_byte_and_imports_nothing(data_dir, tmp_path):
    from kiosk_testing import run_kiosk

    from kiosk.store.db import open_store

    f = tmp_path / "roster.csv"
    f.write_bytes((ROSTER_HEADER + roster_line("好人", "1", "1", "101", "R1")
                   + roster_line("坏", "1", "1", "102", "R2\x00")).encode())
    r = run_kiosk(data_dir, "residents", "import", str(f))
    assert r.returncode == 1
    assert f"{f}:3: rejected: column 7 contains the control character U+0000" in r.stderr
    store = open_store(data_dir / "kiosk.sqlite3")
    assert counts(store) == (0, 0)
    store.close()


def test_a_roster_too_long_to_list_in_full_reports_the_first_rows_and_counts_the_rest(
        store, tmp_path):
    from kiosk.store.importer import MAX_REPORTED

    f = tmp_path / "roster.csv"
    f.write_text(ROSTER_HEADER + "".join(roster_line(f"人{i}", "1", "1", "101", f"R{i}",
                                                     kind="alien")
                                         for i in range(MAX_REPORTED + 5)), encoding="utf-8")
    report = import_roster(store.engine, f)
    assert len(report.rejected) == MAX_REPORTED and report.rejected_count == MAX_REPORTED + 5
    assert not report.committed and counts(store) == (0, 0)
