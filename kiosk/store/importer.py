"""Importing the resident roster from the CSV files a community office actually has.

Files come from Excel on Chinese Windows (GBK), from WPS or LibreOffice (UTF-8, with or
without a BOM), with English or Chinese headers. Every bad row is reported with its line
number; by default one bad row means nothing is imported (all or nothing, one transaction).
Re-importing the same roster updates people and passes in place and never duplicates them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.core.model import PassKind
from kiosk.store import lite
from kiosk.store.roster import initials_of

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection, Source

#: canonical column -> accepted header spellings (compared after strip + lower-case)
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名"),
    "building": ("building", "楼栋", "楼号"),
    "unit": ("unit", "单元"),
    "room": ("room", "房号", "房间号"),
    "household": ("household", "户号"),
    "phone": ("phone", "电话", "手机", "联系电话"),
    "pass_number": ("pass_number", "通行证号", "通行证编号"),
    "pass_kind": ("pass_kind", "类别", "通行证类别"),
    "valid_from": ("valid_from", "有效期起"),
    "valid_to": ("valid_to", "有效期止"),
}
REQUIRED = ("name", "pass_number", "pass_kind", "valid_from", "valid_to")
#: the kind column accepts the English code or its Chinese name
KIND_NAMES: dict[str, PassKind] = {
    **{k.value: k for k in PassKind},
    "居民": PassKind.RESIDENT,
    "必要岗位": PassKind.WORKER,
    "工作人员": PassKind.STAFF,
    "保供": PassKind.SUPPLIER,
    "配送": PassKind.SUPPLIER,
    "访客": PassKind.VISITOR,
}
LIMITS = {"name": 100, "building": 20, "unit": 20, "room": 20, "household": 40, "phone": 30,
          "pass_number": 40}


#: rejected rows listed in a report (the others are only counted)
MAX_REPORTED = 1000
#: bytes read at a time when checking a file's encoding
CHUNK_BYTES = 1 << 20
#: roster rows written per round of look-ups (bounded by SQLite's 32,766 parameters)
UPSERT_CHUNK = 2000
#: C0 and C1 control characters (NUL, escape, line breaks inside a cell...): they have no
#: business in a name or a pass number and would be written raw into the CSV export
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RosterError(Exception):
    """The file as a whole cannot be read (encoding, missing columns)."""


@dataclass(frozen=True, slots=True)
class RosterRow:
    line: int
    name: str
    building: str
    unit: str
    room: str
    household: str
    phone: str
    pass_number: str
    pass_kind: PassKind
    valid_from: date
    valid_to: date


@dataclass
class ImportReport:
    rows: int = 0
    residents_added: int = 0
    residents_updated: int = 0
    passes_added: int = 0
    passes_updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    #: all rejected rows (``rejected`` lists at most MAX_REPORTED of them)
    rejected_count: int = 0
    committed: bool = False

    def __post_init__(self) -> None:
        self.rejected_count = max(self.rejected_count, len(self.rejected))


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in ``encoding``, read in chunks (never whole)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with open(path, "rb") as f:
        try:
            while chunk := f.read(CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def roster_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            if _decodes(path, encoding):
                return encoding
        except OSError as exc:
            raise RosterError(f"cannot read {path}: {exc.strerror}") from exc
    raise RosterError("the file is neither UTF-8 nor GBK text; save it as CSV UTF-8 and retry")


def decode_roster(raw: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError("the file is neither UTF-8 nor GBK text; save it as CSV UTF-8 and retry")


def _header_map(header: list[str]) -> dict[str, int]:
    lookup = {alias: canon for canon, aliases in HEADERS.items() for alias in aliases}
    mapping: dict[str, int] = {}
    for i, title in enumerate(header):
        canon = lookup.get(title.strip().lower())
        if canon is not None and canon not in mapping:
            mapping[canon] = i
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        raise RosterError(
            "missing columns: " + ", ".join(f"{c}/{HEADERS[c][1]}" for c in missing)
        )
    return mapping


def _parse_date(text: str, column: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{column} '{text}' is not a date YYYY-MM-DD") from None


def _parse_row(line: int, cells: list[str], cols: dict[str, int]) -> RosterRow:
    def get(name: str) -> str:
        i = cols.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    for i, cell in enumerate(cells, start=1):
        bad = _CONTROL.search(cell)
        if bad is not None:
            raise ValueError(f"column {i} contains the control character "
                             f"U+{ord(bad.group()):04X}; remove it and import again")
    values = {name: get(name) for name in HEADERS}
    for name in REQUIRED:
        if not values[name]:
            raise ValueError(f"{name}/{HEADERS[name][1]} is empty")
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            raise ValueError(f"{name} is longer than {limit} characters")
    kind = KIND_NAMES.get(values["pass_kind"].lower())
    if kind is None:
        raise ValueError(f"pass_kind '{values['pass_kind']}' is not one of "
                         + ", ".join(k.value for k in PassKind))
    if kind is PassKind.RESIDENT and not (values["building"] and values["room"]):
        raise ValueError("a resident needs building/楼栋 and room/房号")
    valid_from = _parse_date(values["valid_from"], "valid_from")
    valid_to = _parse_date(values["valid_to"], "valid_to")
    if valid_to < valid_from:
        raise ValueError("valid_to is before valid_from")
    household = values["household"]
    if not household and values["building"]:
        household = "-".join(v for v in (values["building"], values["unit"], values["room"]) if v)
    return RosterRow(
        line=line,
        name=values["name"],
        building=values["building"],
        unit=values["unit"],
        room=values["room"],
        household=household,
        phone=values["phone"],
        pass_number=values["pass_number"].upper(),
        pass_kind=kind,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def _rows(reader: Iterator[list[str]], line_num: Callable[[], int],
          cols: dict[str, int]) -> Iterator[tuple[int, RosterRow | str]]:
    """Each non-blank data line as (line number, row) or (line number, why it is refused).
    Duplicate pass numbers are not looked for here (that needs the whole file)."""
    while True:
        line = line_num() + 1  # where the row starts (a quoted cell may span lines)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line_num(), f"unreadable CSV: {exc}"
            return
        if not any(c.strip() for c in cells):
            continue
        try:
            yield line, _parse_row(line, cells, cols)
        except ValueError as exc:
            yield line, str(exc)


def _header(reader: Iterator[list[str]]) -> dict[str, int]:
    try:
        header = next(reader)
    except StopIteration:
        raise RosterError("the file is empty") from None
    except csv.Error as exc:
        raise RosterError(f"line 1: {exc}") from exc
    return _header_map(header)


def parse_roster(text: str) -> tuple[list[RosterRow], list[tuple[int, str]]]:
    """Rows that are good, and (line number, reason) for each that is not (a roster already
    in memory: the sync and the tests; files go through ``RosterFile``)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    cols = _header(reader)
    good: list[RosterRow] = []
    bad: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, row in _rows(reader, lambda: reader.line_num, cols):
        if isinstance(row, str):
            bad.append((line, row))
        elif row.pass_number in seen:
            bad.append((line, f"pass_number {row.pass_number} already on line "
                               f"{seen[row.pass_number]}"))
        else:
            seen[row.pass_number] = line
            good.append(row)
    return good, bad


class RosterFile:
    """A roster CSV read as a stream, so a 200 MB district file fits in a Pi's memory.

    ``check`` reads the file once and finds every bad row (duplicate pass numbers are found
    through a scratch SQLite file, not a dictionary of the whole file); ``good_rows`` then
    reads it again and yields the rows that passed. Progress is reported in bytes read.
    Use as a context manager (the scratch file is removed on exit).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size if path.exists() else 0
        self.encoding = roster_encoding(path)
        self.rows = 0  # good rows, known after ``check``
        self.rejected: list[tuple[int, str]] = []  # the first MAX_REPORTED
        self.rejected_count = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="kiosk-roster-")
        self._seen = sqlite3.connect(Path(self._tmp.name) / "seen.sqlite3",
                                     isolation_level=None)
        self._seen.execute("PRAGMA journal_mode=OFF")
        self._seen.execute("PRAGMA synchronous=OFF")
        self._seen.execute("CREATE TABLE seen (number TEXT PRIMARY KEY, line INTEGER)")

    def __enter__(self) -> RosterFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._seen.close()
        self._tmp.cleanup()

    def _read(self, progress: Callable[[int], None] | None
              ) -> Iterator[tuple[int, RosterRow | str]]:
        try:
            binary = open(self.path, "rb")  # noqa: SIM115 - closed below, after the reader
        except OSError as exc:
            raise RosterError(f"cannot read {self.path}: {exc.strerror}") from exc
        with binary, io.TextIOWrapper(binary, encoding=self.encoding, newline="") as text:
            reader = csv.reader(text)
            cols = _header(reader)
            done = 0
            for n, item in enumerate(_rows(reader, lambda: reader.line_num, cols)):
                if progress is not None and n % 1000 == 0:
                    at = binary.tell()
                    progress(at - done)
                    done = at
                yield item
            if progress is not None:
                progress(self.size - done)

    def check(self, progress: Callable[[int], None] | None = None) -> None:
        """Read the whole file and collect the refused rows (line, reason)."""
        self.rows, self.rejected, self.rejected_count = 0, [], 0
        self._seen.execute("DELETE FROM seen")
        self._seen.execute("BEGIN")
        for line, row in self._read(progress):
            reason = row if isinstance(row, str) else self._first_line(row, line)
            if reason is None:
                self.rows += 1
                continue
            self.rejected_count += 1
            if len(self.rejected) < MAX_REPORTED:
                self.rejected.append((line, reason))
        self._seen.execute("COMMIT")

    def _first_line(self, row: RosterRow, line: int) -> str | None:
        """None when this is the pass number's first line, else why the row is refused."""
        cur = self._seen.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)",
                                 (row.pass_number, line))
        if cur.rowcount == 1:
            return None
        (first,) = self._seen.execute("SELECT line FROM seen WHERE number = ?",
                                      (row.pass_number,)).fetchone()
        return f"pass_number {row.pass_number} already on line {first}"

    def good_rows(self, progress: Callable[[int], None] | None = None) -> Iterator[RosterRow]:
        """The rows ``check`` accepted, read again from the file."""
        for line, row in self._read(progress):
            if isinstance(row, str):
                continue
            first = self._seen.execute("SELECT line FROM seen WHERE number = ?",
                                       (row.pass_number,)).fetchone()
            if first is not None and first[0] == line:
                yield row


def _chunks(rows: Iterable[RosterRow], size: int) -> Iterator[list[RosterRow]]:
    chunk: list[RosterRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def upsert_roster(
    conn: AnyConnection,
    rows: Iterable[RosterRow],
    report: ImportReport,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert or update people and their passes inside the caller's transaction.

    Rows are taken ``UPSERT_CHUNK`` at a time: each chunk looks up only its own people and
    passes (indexed queries) and inserts its new ones in bulk (executemany with RETURNING),
    so memory stays flat however long the roster, and the 20,000-person demo compound loads
    in seconds. A person counts as added or changed once: rows written by this import carry
    its ``updated_at``.
    """
    now = lite.sql_datetime(lite.utc_now())
    con = lite.driver(conn)
    for chunk in _chunks(rows, UPSERT_CHUNK):
        _upsert_chunk(con, chunk, report, now, progress)


_PEOPLE = """
SELECT id, name, building, unit, room, household, phone, updated_at FROM residents
WHERE name IN (SELECT value FROM json_each(?))"""
_PASSES = """
SELECT id, number, kind, valid_from, valid_to, resident_id FROM passes
WHERE number IN (SELECT value FROM json_each(?))"""
_UPDATE_PERSON = "UPDATE residents SET household = ?, phone = ?, updated_at = ? WHERE id = ?"
_INSERT_PERSON = ("INSERT INTO residents (name, building, unit, room, household, phone, "
                  "updated_at, initials) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_UPDATE_PASS = ("UPDATE passes SET kind = ?, valid_from = ?, valid_to = ?, resident_id = ?, "
                "updated_at = ? WHERE id = ?")
_INSERT_PASS = ("INSERT INTO passes (number, kind, valid_from, valid_to, resident_id, revoked, "
                "updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)")


def _upsert_chunk(con: sqlite3.Connection, rows: list[RosterRow], report: ImportReport,
                  now: str, progress: Callable[[int], None] | None) -> None:
    people = {
        (name, building, unit, room): (rid, household, phone, updated_at == now)
        for rid, name, building, unit, room, household, phone, updated_at in con.execute(
            _PEOPLE, (json.dumps(sorted({r.name for r in rows})),))
    }
    passes = {
        number: (pid, kind, date.fromisoformat(valid_from), date.fromisoformat(valid_to),
                 resident_id)
        for pid, number, kind, valid_from, valid_to, resident_id in con.execute(
            _PASSES, (json.dumps(sorted({r.pass_number for r in rows})),))
    }
    new_people: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    for row in rows:
        key = (row.name, row.building, row.unit, row.room)
        known = people.get(key)
        if known is None:
            if key not in new_people:
                report.residents_added += 1
            new_people[key] = (row.household, row.phone)
        elif (known[1], known[2]) != (row.household, row.phone):
            con.execute(_UPDATE_PERSON, (row.household, row.phone, now, known[0]))
            people[key] = (known[0], row.household, row.phone, True)
            report.residents_updated += 1
    for key, (household, phone) in new_people.items():
        cur = con.execute(_INSERT_PERSON, (*key, household, phone, now, initials_of(key[0])))
        people[key] = (int(cur.lastrowid or 0), household, phone, True)
    new_passes: list[tuple[object, ...]] = []
    for row in rows:
        key = (row.name, row.building, row.unit, row.room)
        rid, _household, _phone, touched = people[key]
        wanted = (row.pass_kind.value, row.valid_from, row.valid_to, rid)
        existing = passes.get(row.pass_number)
        if existing is None:
            new_passes.append((row.pass_number, wanted[0], row.valid_from.isoformat(),
                               row.valid_to.isoformat(), rid, now))
            report.passes_added += 1
        elif existing[1:] != wanted:
            con.execute(_UPDATE_PASS, (wanted[0], row.valid_from.isoformat(),
                                       row.valid_to.isoformat(), rid, now, existing[0]))
            report.passes_updated += 1
        elif not touched:
            report.unchanged += 1
        report.rows += 1
        if progress is not None:
            progress(1)
    if new_passes:
        con.executemany(_INSERT_PASS, new_passes)


def load_roster(path: Path) -> tuple[list[RosterRow], list[tuple[int, str]]]:
    """Read and check a roster file into memory: the good rows and the rejected (line,
    reason) pairs (the central store's publishing; the kiosk streams with ``RosterFile``)."""
    with RosterFile(path) as roster:
        roster.check()
        return list(roster.good_rows()), roster.rejected


def apply_roster(
    engine: Source,
    good: list[RosterRow],
    rejected: list[tuple[int, str]],
    *,
    accept_valid: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write checked rows in one transaction. With rejected rows and ``accept_valid`` False,
    nothing is written (report.committed stays False)."""
    report = ImportReport(rejected=rejected)
    if (rejected and not accept_valid) or dry_run:
        return report
    with lite.writing(engine) as con:
        upsert_roster(con, good, report, progress)
    report.committed = True
    return report


def import_roster(
    engine: Source,
    path: Path,
    *,
    accept_valid: bool = False,
    dry_run: bool = False,
    checking: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a roster file in one transaction (all or nothing unless ``accept_valid``),
    streaming it twice: once to check every row (``checking``: bytes read), once to write
    (``progress``: bytes read). A dry run only checks."""
    with RosterFile(path) as roster:
        roster.check(checking)
        report = ImportReport(rejected=roster.rejected, rejected_count=roster.rejected_count)
        if (roster.rejected_count and not accept_valid) or dry_run:
            report.rows = roster.rows
            return report
        with lite.writing(engine) as con:
            upsert_roster(con, roster.good_rows(progress), report)
    report.committed = True
    return report
