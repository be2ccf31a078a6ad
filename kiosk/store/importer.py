"""Importing the resident roster from the CSV files a community office actually has.

Files come from Excel on Chinese Windows (GBK), from WPS or LibreOffice (UTF-8, with or
without a BOM), with English or Chinese headers. Every bad row is reported with its line
number; by default one bad row means nothing is imported (all or nothing, one transaction).
Re-importing the same roster updates people and passes in place and never duplicates them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update

from kiosk.core.model import PassKind
from kiosk.store.models import PassRow, ResidentRow, table_of

P = table_of(PassRow)
R = table_of(ResidentRow)

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
    committed: bool = False


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


def parse_roster(text: str) -> tuple[list[RosterRow], list[tuple[int, str]]]:
    """Rows that are good, and (line number, reason) for each that is not."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterError("the file is empty") from None
    except csv.Error as exc:
        raise RosterError(f"line 1: {exc}") from exc
    cols = _header_map(header)
    good: list[RosterRow] = []
    bad: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append((reader.line_num, f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        try:
            row = _parse_row(line, cells, cols)
        except ValueError as exc:
            bad.append((line, str(exc)))
            continue
        if row.pass_number in seen:
            bad.append((line, f"pass_number {row.pass_number} already on line "
                               f"{seen[row.pass_number]}"))
            continue
        seen[row.pass_number] = line
        good.append(row)
    return good, bad


def upsert_roster(
    conn: Connection,
    rows: Iterable[RosterRow],
    report: ImportReport,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert or update people and their passes inside the caller's transaction.

    New rows are inserted in bulk (executemany with RETURNING), so the 20,000-person demo
    compound or a district roster loads in seconds.
    """
    now = datetime.now()
    people = {
        (r.name, r.building, r.unit, r.room): (r.id, r.household, r.phone)
        for r in conn.execute(select(R.c.id, R.c.name, R.c.building, R.c.unit, R.c.room,
                                     R.c.household, R.c.phone))
    }
    passes = {
        r.number: (r.id, r.kind, r.valid_from, r.valid_to, r.resident_id)
        for r in conn.execute(select(P.c.id, P.c.number, P.c.kind, P.c.valid_from, P.c.valid_to,
                                     P.c.resident_id))
    }
    rows = list(rows)
    new_people: dict[tuple[str, str, str, str], dict[str, object]] = {}
    changed_people: set[tuple[str, str, str, str]] = set()
    for row in rows:
        key = (row.name, row.building, row.unit, row.room)
        known = people.get(key)
        if known is None:
            if key not in new_people:
                report.residents_added += 1
            new_people[key] = dict(name=row.name, building=row.building, unit=row.unit,
                                   room=row.room, household=row.household, phone=row.phone,
                                   updated_at=now)
        elif (known[1], known[2]) != (row.household, row.phone):
            conn.execute(update(R).where(R.c.id == known[0]).values(
                household=row.household, phone=row.phone, updated_at=now))
            people[key] = (known[0], row.household, row.phone)
            report.residents_updated += 1
            changed_people.add(key)
    if new_people:
        ids = conn.execute(insert(R).returning(R.c.id, sort_by_parameter_order=True),
                           list(new_people.values())).scalars().all()
        for key, rid in zip(new_people, ids, strict=True):
            people[key] = (rid, new_people[key]["household"], new_people[key]["phone"])
    new_passes: list[dict[str, object]] = []
    for row in rows:
        key = (row.name, row.building, row.unit, row.room)
        rid = people[key][0]
        wanted = (row.pass_kind.value, row.valid_from, row.valid_to, rid)
        existing = passes.get(row.pass_number)
        if existing is None:
            new_passes.append(dict(number=row.pass_number, kind=wanted[0], valid_from=wanted[1],
                                   valid_to=wanted[2], resident_id=rid, revoked=False,
                                   updated_at=now))
            report.passes_added += 1
        elif existing[1:] != wanted:
            conn.execute(update(P).where(P.c.id == existing[0]).values(
                kind=wanted[0], valid_from=wanted[1], valid_to=wanted[2], resident_id=rid,
                updated_at=now))
            report.passes_updated += 1
        elif key not in new_people and key not in changed_people:
            report.unchanged += 1
        report.rows += 1
        if progress is not None:
            progress(1)
    if new_passes:
        conn.execute(insert(P), new_passes)


def load_roster(path: Path) -> tuple[list[RosterRow], list[tuple[int, str]]]:
    """Read and check a roster file: the good rows and the rejected (line, reason) pairs."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_roster(decode_roster(raw))


def apply_roster(
    engine: Engine,
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
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        upsert_roster(conn, good, report, progress)
    report.committed = True
    return report


def import_roster(
    engine: Engine,
    path: Path,
    *,
    accept_valid: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a roster file in one transaction (all or nothing unless ``accept_valid``)."""
    good, bad = load_roster(path)
    return apply_roster(engine, good, bad, accept_valid=accept_valid, dry_run=dry_run,
                        progress=progress)
