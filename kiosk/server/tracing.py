"""Contact tracing (时空关联, issue 15 point 3): for a pass, a household or a fever event,
everyone who passed the same gate within ±N minutes of it on the given days, and the
household's own movements over the 14 days before the last day. A movement undone at
the gate (a correction event names it) did not happen: it is left out everywhere, and so is
the correction itself (``HAPPENED``).

Only roles that may see personal data trace (kiosk.server.roles: district and compound
users; a viewer is refused). A compound user traces within their compound: every query here
takes a ``compound`` that limits the subject's events, the contacts and the household's
movements alike. The caller records every query in the audit log (``TRACE``) and writes the
CSV with the nightly export's Excel-safe writer (kiosk.export.csvfile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, or_, select
from sqlalchemy.sql import ColumnElement

from kiosk.export.csvfile import WrittenFile, write_csv
from kiosk.server.ingest import EV, UNDONE
from kiosk.server.models import RosterEntryRow
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.models import table_of

ROSTER = table_of(RosterEntryRow)
#: audit action of a tracing query (the page and the CSV)
TRACE = "trace"
#: the household's movements are listed over this many days, the last day included
HOUSEHOLD_DAYS = 14
#: the widest window and the longest span of days one query may ask for
MAX_MINUTES = 240
MAX_DAYS = 31
#: subject events and contact rows one query returns at most (the page says when cut)
MAX_SUBJECT_EVENTS = 500
MAX_ROWS = 5000


class SubjectKind(StrEnum):
    PASS = "pass"
    HOUSEHOLD = "household"
    EVENT = "event"  # a fever event (or any one event), by its id


class TraceError(ValueError):
    """A query that cannot be run as asked; the message is shown as it is."""


@dataclass(frozen=True, slots=True)
class TraceQuery:
    kind: SubjectKind
    value: str
    first: date
    last: date
    minutes: int = 15

    def problem(self) -> str | None:
        """Why this query is refused (None when it may run)."""
        if not self.value.strip() or len(self.value) > 40:
            return "请填写通行证号、户号或事件编号 (最多 40 字) / Give a pass number, " \
                   "household or event id (at most 40 characters)"
        if not 1 <= self.minutes <= MAX_MINUTES:
            return f"时间窗口为 1 到 {MAX_MINUTES} 分钟 / The window is 1 to {MAX_MINUTES} min"
        if self.last < self.first:
            return "结束日期早于开始日期 / The last day is before the first"
        if (self.last - self.first).days >= MAX_DAYS:
            return f"最多 {MAX_DAYS} 天 / At most {MAX_DAYS} days"
        return None


@dataclass(frozen=True, slots=True)
class Passage:
    """One event at a gate, its time in the command's zone."""

    id: str
    at: datetime
    compound: str
    checkpoint: str
    direction: str
    outcome: str
    reason: str
    escalated: bool
    pass_number: str | None
    household: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone at the subject's gate near one of the subject's passages."""

    subject: Passage
    other: Passage

    @property
    def minutes_apart(self) -> int:
        return round(abs((self.other.at - self.subject.at).total_seconds()) / 60)


@dataclass
class TraceResult:
    query: TraceQuery
    subject: list[Passage]
    contacts: list[Contact]
    household: str | None
    movements: list[Passage]
    cut: bool = False

    @property
    def people(self) -> int:
        """Distinct contacts (by pass number)."""
        return len({c.other.pass_number for c in self.contacts})


def _passage(row: Row[Any, *tuple[Any, ...]], settings: DashboardSettings) -> Passage:
    m = row._mapping
    return Passage(m["id"], settings.from_utc(m["wall_utc"]), m["compound"], m["checkpoint"],
                   m["direction"], m["outcome"], m["reason"], bool(m["escalated"]),
                   m["pass_number"], m["household"])


_COLUMNS = (EV.c.id, EV.c.wall_utc, EV.c.compound, EV.c.checkpoint, EV.c.direction,
            EV.c.outcome, EV.c.reason, EV.c.escalated, EV.c.pass_number, EV.c.household)


def subject_compounds(engine: Engine, q: TraceQuery) -> set[str]:
    """The compounds the subject belongs to: the roster's for a pass or household, the
    event's own for an event; with its events of the days for a pass or household the
    roster does not know. What a compound user may trace is checked against it."""
    with engine.connect() as conn:
        if q.kind is SubjectKind.EVENT:
            return set(conn.execute(select(EV.c.compound).where(EV.c.id == q.value))
                       .scalars())
        on_roster = ROSTER.c.pass_number if q.kind is SubjectKind.PASS else ROSTER.c.household
        found = set(conn.execute(select(ROSTER.c.compound).where(on_roster == q.value)
                                 .distinct()).scalars())
        column = EV.c.pass_number if q.kind is SubjectKind.PASS else EV.c.household
        found |= set(conn.execute(select(EV.c.compound).where(
            column == q.value, EV.c.local_date.between(q.first, q.last)).distinct()).scalars())
        return found


def _in(compound: str | None) -> list[ColumnElement[bool]]:
    return [] if compound is None else [EV.c.compound == compound]


#: passages that happened: not a correction (an undo's own record), not undone by one. An
#: undone movement was recorded by mistake (the wrong pass, the wrong person): listing it,
#: even marked, would send an officer after someone who was not at the gate; whoever was
#: there is recorded again, in an event of their own, and found by that
HAPPENED: tuple[ColumnElement[bool], ...] = (EV.c.corrects_event_id.is_(None), ~UNDONE)


def _subject_events(conn: Connection, q: TraceQuery, compound: str | None,
                    settings: DashboardSettings) -> list[Passage]:
    if q.kind is SubjectKind.EVENT:
        where: ColumnElement[bool] = EV.c.id == q.value
        rows = conn.execute(select(*_COLUMNS).where(where, *HAPPENED, *_in(compound)))
        event = [_passage(r, settings) for r in rows]
        if not event or not event[0].pass_number:
            return event
        # the fever's person: their other passages of the days too
        more = conn.execute(select(*_COLUMNS).where(
            EV.c.pass_number == event[0].pass_number, EV.c.id != q.value,
            EV.c.local_date.between(q.first, q.last), *HAPPENED, *_in(compound))
            .order_by(EV.c.wall_utc).limit(MAX_SUBJECT_EVENTS))
        return sorted(event + [_passage(r, settings) for r in more], key=lambda p: p.at)
    column = EV.c.pass_number if q.kind is SubjectKind.PASS else EV.c.household
    rows = conn.execute(select(*_COLUMNS).where(
        column == q.value, EV.c.local_date.between(q.first, q.last), *HAPPENED,
        *_in(compound)).order_by(EV.c.wall_utc).limit(MAX_SUBJECT_EVENTS))
    return [_passage(r, settings) for r in rows]


def _nearby(conn: Connection, s: Passage, subject: TraceQuery, minutes: int,
            compound: str | None, settings: DashboardSettings) -> Iterator[Passage]:
    """Events of others at ``s``'s gate within ±minutes (events without a pass number carry
    no one to trace and are left out)."""
    centre = s.at.astimezone(UTC).replace(tzinfo=None)
    window = timedelta(minutes=minutes)
    same = s.household if subject.kind is SubjectKind.HOUSEHOLD else s.pass_number
    not_subject: ColumnElement[bool] = (
        or_(EV.c.household.is_(None), EV.c.household != same)
        if subject.kind is SubjectKind.HOUSEHOLD else EV.c.pass_number != same
        if same else EV.c.id != s.id)
    day = s.at.date()
    rows = conn.execute(select(*_COLUMNS).where(
        # the local day and its neighbours: the day index (partition) is used, a window
        # across midnight is found
        EV.c.local_date.between(day - timedelta(days=1), day + timedelta(days=1)),
        EV.c.compound == s.compound, EV.c.checkpoint == s.checkpoint,
        EV.c.wall_utc.between(centre - window, centre + window),
        EV.c.pass_number.is_not(None), not_subject, *HAPPENED, *_in(compound))
        .order_by(EV.c.wall_utc).limit(MAX_ROWS))
    for r in rows:
        yield _passage(r, settings)


def _household_of(conn: Connection, q: TraceQuery, subject: list[Passage]) -> str | None:
    if q.kind is SubjectKind.HOUSEHOLD:
        return q.value
    known = [p.household for p in subject if p.household]
    if known:
        return known[0]
    number = q.value if q.kind is SubjectKind.PASS else None
    if number is None:
        return None
    return conn.execute(select(ROSTER.c.household).where(ROSTER.c.pass_number == number)
                        ).scalar_one_or_none() or None


def trace(engine: Engine, settings: DashboardSettings, q: TraceQuery,
          compound: str | None = None) -> TraceResult:
    """Run ``q`` within ``compound`` (None: the district). Raises TraceError when the
    query is refused as asked."""
    problem = q.problem()
    if problem:
        raise TraceError(problem)
    with engine.connect() as conn:
        subject = _subject_events(conn, q, compound, settings)
        contacts: list[Contact] = []
        for s in subject:
            contacts += [Contact(s, o) for o in _nearby(conn, s, q, q.minutes, compound,
                                                       settings)]
        cut = len(contacts) > MAX_ROWS or len(subject) >= MAX_SUBJECT_EVENTS
        household = _household_of(conn, q, subject)
        movements: list[Passage] = []
        if household:
            rows = conn.execute(select(*_COLUMNS).where(
                EV.c.household == household,
                EV.c.local_date.between(q.last - timedelta(days=HOUSEHOLD_DAYS - 1), q.last),
                *HAPPENED, *_in(compound)).order_by(EV.c.wall_utc).limit(MAX_ROWS))
            movements = [_passage(r, settings) for r in rows]
    return TraceResult(q, subject, contacts[:MAX_ROWS], household, movements, cut)


#: the CSV's columns, Chinese first with English (one file: contacts, then movements)
CSV_HEADER = ("类别 / kind", "时间 / time", "小区 / compound", "卡口 / gate",
              "方向 / direction", "结果 / outcome", "原因 / reason", "发热 / fever",
              "通行证 / pass", "户 / household", "对象时间 / subject's time",
              "相隔分钟 / minutes apart")


def write_trace_csv(path: Path, result: TraceResult, mask: Callable[[str], str]
                    ) -> WrittenFile:
    """The result as the nightly export writes CSV (UTF-8 with BOM, every text cell
    neutralised: kiosk.export.csvfile); ``mask`` turns a pass number or household into
    what the user may see (identity for roles that see personal data)."""
    def show(value: str | None) -> str:
        return mask(value) if value else ""

    def row(kind: str, p: Passage, subject_at: datetime | None, apart: int | None
            ) -> tuple[object, ...]:
        return (kind, f"{p.at:%Y-%m-%d %H:%M:%S}", p.compound, p.checkpoint, p.direction,
                p.outcome, p.reason, "1" if p.escalated else "", show(p.pass_number),
                show(p.household), "" if subject_at is None else f"{subject_at:%Y-%m-%d %H:%M}",
                "" if apart is None else apart)

    rows = [row("接触 / contact", c.other, c.subject.at, c.minutes_apart)
            for c in result.contacts]
    rows += [row("本户行动 / household", m, None, None) for m in result.movements]
    return write_csv(path, CSV_HEADER, rows)


def audit_detail(q: TraceQuery, result: TraceResult | None, *, csv: bool,
                 refused: bool = False) -> dict[str, object]:
    """What the audit log keeps of a query: who was traced (the identifier asked, no name
    or phone), the days and window, how much came back."""
    detail: dict[str, object] = {"kind": q.kind.value, "value": q.value,
                                 "first": q.first.isoformat(), "last": q.last.isoformat(),
                                 "minutes": q.minutes, "csv": csv}
    if refused:
        detail["refused"] = True
    if result is not None:
        detail.update(contacts=len(result.contacts), movements=len(result.movements))
    return detail
