"""Helpers for the export tests (importable as ``export_testing``): a day of gate traffic
recorded through the real Gate and EventWriter into a real store, with hostile names, and a
strict RFC 4180 reader written here (the second, independent reader of the exported files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from conftest import TODAY
from kiosk_testing import FakeClock
from sqlalchemy import insert

from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.gate import Gate
from kiosk.settings import Settings
from kiosk.store.db import Store
from kiosk.store.events import Movement, Visitor, record_event
from kiosk.store.models import PassRow, ResidentRow

#: the day the traffic is recorded on (passes of the shared roster are valid then)
DAY = TODAY - timedelta(days=3)

HOSTILE_NAMES = [
    "王,逗号",  # comma
    '李"引号"',  # quotes
    "赵\n换行",  # newline
    "Zoë 😷 emoji",  # emoji and Latin
    "=HYPERLINK(\"http://x\")",  # formula injection
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "＝全角",
]


def parse_rfc4180(data: bytes) -> list[list[str]]:
    """A strict RFC 4180 reader (UTF-8 with BOM, CRLF records), written independently of
    Python's csv module: a bare quote inside an unquoted field or a lone LF is an error."""
    assert data.startswith(b"\xef\xbb\xbf"), "no UTF-8 BOM"
    text = data[3:].decode("utf-8")
    rows: list[list[str]] = []
    row: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            i += 1
            buf = []
            while True:
                j = text.index('"', i)
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"')
                    i = j + 2
                else:
                    i = j + 1
                    break
            field = "".join(buf)
        else:
            j = i
            while j < n and text[j] not in ',\r\n':
                assert text[j] != '"', f"bare quote at {j}"
                j += 1
            field, i = text[i:j], j
        row.append(field)
        if i >= n:
            raise AssertionError("the last record has no CRLF")
        if text[i] == ",":
            i += 1
        elif text.startswith("\r\n", i):
            rows.append(row)
            row = []
            i += 2
        else:
            raise AssertionError(f"unexpected {text[i]!r} at {i}")
    return rows


@dataclass
class Traffic:
    store: Store
    settings: Settings
    gate: Gate
    clock: FakeClock
    day: date
    event_ids: list[str]


def at(day: date, hh: int, mm: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hh, mm).timestamp()


def add_person(store: Store, name: str, number: str, building: str = "9", unit: str = "1",
               room: str = "101", phone: str = "13912345678", household: str = "") -> None:
    now = datetime.now()
    with store.engine.begin() as conn:
        rid = conn.execute(insert(ResidentRow).values(
            name=name, building=building, unit=unit, room=room, household=household or number,
            phone=phone, updated_at=now)).inserted_primary_key[0]
        conn.execute(insert(PassRow).values(
            number=number, kind="resident", valid_from=TODAY - timedelta(days=60),
            valid_to=TODAY + timedelta(days=60), revoked=False, resident_id=rid,
            updated_at=now))


def record_visitor(t: Traffic, name: str, phone: str = "13700001111",
                   direction: Direction = Direction.IN) -> str:
    ev = record_event(
        t.store.engine, t.settings.device.id,
        Movement(checkpoint=t.settings.checkpoint.id, direction=direction,
                 decision=Decision(Outcome.ALLOW, Reason.OK),
                 readings=[make_reading(36.4, source=ReadingSource.MANUAL)],
                 policy=t.settings.policy(), identified_by="visitor",
                 visitor=Visitor(name=name, phone=phone, reason="送药", host_building="3")),
        t.clock.sample(), True)
    t.clock.advance(60)
    return ev.id


def check(t: Traffic, number: str, *temps: float, direction: str | None = None) -> str:
    readings = [make_reading(x) for x in temps]
    r = t.gate.check(number, readings,
                     direction=Direction(direction) if direction else None)
    t.clock.advance(60)
    t.event_ids.append(r.event.id)
    return r.event.id


def make_traffic(loaded_store: Store, settings: Settings, clock: FakeClock) -> Traffic:
    """One day at gate-1: residents out and in, a quota denial, a confirmed fever, an unknown
    pass, visitors, and people with hostile names."""
    settings.quota.outings = 1
    clock.wall_s = at(DAY, 8)
    clock.monotonic_s = 1000.0
    gate = Gate(loaded_store, settings, clock=clock.sample, os_synced=lambda: clock.synced)
    t = Traffic(loaded_store, settings, gate, clock, DAY, [])
    check(t, "R0001", 36.5, direction="out")  # 张三明 out
    check(t, "R0002", 36.6, direction="out")  # 李四, same household: quota used -> deny
    check(t, "R0003", 36.4, direction="out")  # 王五 out, stays out
    check(t, "R0001", 36.5, direction="in")  # 张三明 back
    check(t, "W0001", 37.8, 37.9, direction="out")  # fever confirmed
    check(t, "W0001", 37.6, direction="in")  # re-measure asked
    check(t, "NOPE1", 36.5, direction="in")  # unknown pass
    for i, name in enumerate(HOSTILE_NAMES):
        number = f"H{i:04d}"
        add_person(loaded_store, name, number, room=f"{i}01", phone=f"+86 1380000{i:04d}")
        check(t, number, 36.5, direction="out")
    record_visitor(t, "访客,甲")
    record_visitor(t, "=1+1")
    gate.close()
    return t
