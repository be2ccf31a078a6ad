"""Roster look-ups on the hot path (plain SQLAlchemy Core: one indexed query each)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    case,
    exists,
    false,
    func,
    or_,
    select,
    update,
)

from kiosk.core.decision import Outcome, counted_exit_days
from kiosk.core.model import Direction, Pass, PassKind, Resident
from kiosk.store.models import GateEventRow, PassRow, RemoteMovementRow, ResidentRow, table_of
from kiosk.sync.state import own_clock_error

P = table_of(PassRow)
R = table_of(ResidentRow)
E = table_of(GateEventRow)
RM = table_of(RemoteMovementRow)
#: the correction events, looked up by the event they correct (ix_gate_events_corrects)
C = E.alias("corrections")
#: the movement has been undone by a later correction event (an acknowledgement names its
#: fever the same way, and undoes nothing)
UNDONE = exists().where(C.c.corrects_event_id == E.c.id, C.c.outcome == Outcome.UNDO.value)
#: the confirmed fever has been acknowledged at the gate (the team leader was called)
ACKNOWLEDGED = exists().where(C.c.corrects_event_id == E.c.id,
                              C.c.outcome == Outcome.NOTIFIED.value)


@dataclass(frozen=True, slots=True)
class FoundPass:
    """A pass from the roster with the database ids the event record needs."""

    gate_pass: Pass
    pass_id: int | None  # None: a signed pass not (yet) on this kiosk's roster
    resident_id: int | None


def _resident(row: object) -> Resident:
    return Resident(
        name=row.name,  # type: ignore[attr-defined]
        building=row.building,  # type: ignore[attr-defined]
        unit=row.unit,  # type: ignore[attr-defined]
        room=row.room,  # type: ignore[attr-defined]
        household=row.household,  # type: ignore[attr-defined]
        phone=row.phone,  # type: ignore[attr-defined]
    )


_PASS_QUERY = (
    select(
        P.c.id, P.c.number, P.c.kind, P.c.valid_from, P.c.valid_to, P.c.revoked,
        P.c.resident_id, R.c.name, R.c.building, R.c.unit, R.c.room, R.c.household, R.c.phone,
    )
    .select_from(P.outerjoin(R, P.c.resident_id == R.c.id))
)


_FIND_PASS = _PASS_QUERY.where(P.c.number == bindparam("number"))


def find_pass(conn: Connection, number: str) -> FoundPass | None:
    row = conn.execute(_FIND_PASS, {"number": number.strip().upper()}).first()
    if row is None:
        return None
    holder = _resident(row) if row.resident_id is not None else None
    return FoundPass(
        gate_pass=Pass(
            number=row.number,
            kind=PassKind(row.kind),
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            revoked=bool(row.revoked),
            holder=holder,
        ),
        pass_id=row.id,
        resident_id=row.resident_id,
    )


_EXIT_DAYS = select(E.c.local_date, UNDONE.label("undone")).where(
    E.c.household == bindparam("household"),
    E.c.local_date >= bindparam("since"),
    E.c.counts_against_quota.is_(True),
).union_all(select(RM.c.local_date, false().label("undone")).where(
    RM.c.household == bindparam("household"),
    RM.c.local_date >= bindparam("since"),
    RM.c.counts_against_quota.is_(True),
))


def household_exit_days(conn: Connection, household: str, since: date) -> list[date]:
    """Days of the household's allowed exits that used its quota, since ``since``: here and,
    as far as sync has brought them, at the compound's other gates; an exit undone at the
    gate (a correction event names it) spent nothing (the core's rule)."""
    rows = conn.execute(_EXIT_DAYS, {"household": household, "since": since})
    return counted_exit_days((r.local_date, bool(r.undone)) for r in rows)


_LAST_EXIT_HERE = select(E.c.wall_utc, E.c.utc_offset_min).where(
    E.c.household == bindparam("household"),
    E.c.local_date >= bindparam("since"),
    E.c.counts_against_quota.is_(True),
    ~UNDONE,
).order_by(E.c.seq.desc()).limit(1)
_LAST_EXIT_REMOTE = select(func.max(RM.c.wall_utc)).where(
    RM.c.household == bindparam("household"),
    RM.c.local_date >= bindparam("since"),
    RM.c.counts_against_quota.is_(True),
)


def household_last_exit(conn: Connection, household: str, since: date) -> datetime | None:
    """Local wall time of the household's newest quota-counted exit since ``since``, here
    (in the offset it was recorded with) or at another gate (in this kiosk's zone)."""
    params = {"household": household, "since": since}
    times = []
    here = conn.execute(_LAST_EXIT_HERE, params).first()
    if here is not None:
        times.append(here.wall_utc + timedelta(minutes=here.utc_offset_min or 0))
    remote = conn.execute(_LAST_EXIT_REMOTE, params).scalar()
    if remote is not None:
        times.append(remote.replace(tzinfo=UTC).astimezone().replace(tzinfo=None))
    return max(times) if times else None


_LAST_DIRECTION = (
    select(E.c.direction, E.c.wall_utc, E.c.seq)
    .where(E.c.pass_number == bindparam("number"), E.c.outcome == "allow", ~UNDONE)
    .order_by(E.c.seq.desc())
    .limit(1)
)
_LAST_REMOTE = (
    select(RM.c.direction, RM.c.wall_utc)
    .where(RM.c.pass_number == bindparam("number"))
    .order_by(RM.c.wall_utc.desc(), RM.c.seq.desc())
    .limit(1)
)
#: a movement here happened no later than any later event here: bounds a fast wall clock
_LATER_BOUND = select(func.min(E.c.wall_utc)).where(E.c.seq > bindparam("seq"))


def last_direction(conn: Connection, pass_number: str) -> Direction | None:
    """Direction of the pass holder's newest allowed movement: at this kiosk by sequence
    (which never goes backwards even when the wall clock did), at another gate of the
    compound (downloaded by sync) when its time is later. The time here is bounded by the
    later events here and corrected by this clock's error measured at the last sync, the
    other gate's bounded by when the central store received it (kiosk.ui.vm.queries.who_is_out
    says why)."""
    row = conn.execute(_LAST_DIRECTION, {"number": pass_number}).first()
    remote = conn.execute(_LAST_REMOTE, {"number": pass_number}).first()
    if remote is None:
        return Direction(row.direction) if row else None
    if row is None:
        return Direction(remote.direction)
    later = conn.execute(_LATER_BOUND, {"seq": row.seq}).scalar()
    when = (min(row.wall_utc, later) if later is not None else row.wall_utc
            ) - own_clock_error(conn)
    return Direction(remote.direction if remote.wall_utc > when else row.direction)


def initials_of(name: str) -> str:
    """The pinyin initials of a name, upper case, as typed on the gate pad: 张三明 -> ZSM,
    a Latin name by its words' first letters (Anna Li -> AL).

    pypinyin is imported here, not with the module: its dictionaries take about 55 MB, and
    the gate needs them only to import a roster or fill rows from before migration 0005,
    never to search (the initials are stored), so a running kiosk does not carry them."""
    from pypinyin import Style, lazy_pinyin

    out = []
    for chunk in lazy_pinyin(name, style=Style.FIRST_LETTER):
        for word in chunk.split():
            if word[:1].isascii() and word[:1].isalpha():
                out.append(word[0])
    return "".join(out).upper()[:40]


_UNFILLED = select(R.c.id, R.c.name).where(R.c.initials.is_(None))
_FILL = update(R).where(R.c.id == bindparam("rid")).values(initials=bindparam("ini"))


def fill_initials(conn: Connection) -> int:
    """Compute the initials of everyone who has none yet (rows written before migration
    0005, or by anything other than the roster import); returns how many. About 0.6 s for
    20,000 names, once; later calls find nothing to do through the index."""
    todo = [{"rid": r.id, "ini": initials_of(r.name)} for r in conn.execute(_UNFILLED)]
    if todo:
        conn.execute(_FILL, todo)
    return len(todo)


_LETTERS = re.compile(r"[A-Z]+")
#: a pass number typed without its leading zeros: R12 for R000012
_SHORT_NUMBER = re.compile(r"([A-Z]+)(\d+)")


def search_residents(conn: Connection, query: str, limit: int = 20) -> list[tuple[object, ...]]:
    """Find people by pass number (whole, or without its leading zeros: R12 = R000012),
    building-unit-room ("12-3-402"), building-unit (every room of "12-2"), pinyin initials
    (ZSM = 张三明; a prefix lists everyone whose initials start so) or part of a name.

    Each row ends with ``exact``: the query names this person precisely (their pass number,
    room, or initials in full) rather than as one of a list; exact rows come first."""
    q = query.strip().replace("－", "-")
    upper = q.upper()
    conds: list[ColumnElement[bool]] = [R.c.name.contains(q, autoescape=True),
                                        P.c.number == upper]
    exact: list[ColumnElement[bool]] = [P.c.number == upper]
    if _LETTERS.fullmatch(upper):
        conds.append((R.c.initials >= upper) & (R.c.initials < upper + "["))
        exact.append(R.c.initials == upper)
    short = _SHORT_NUMBER.fullmatch(upper)
    if short:
        prefix, digits = short.groups()
        padded = ((P.c.number >= prefix) & (P.c.number < prefix + "[")
                  & (func.ltrim(func.substr(P.c.number, len(prefix) + 1), "0")
                     == (digits.lstrip("0") or "")))
        conds.append(padded)
        exact.append(padded)
    parts = q.split("-")
    if len(parts) == 3 and all(parts):
        room = (R.c.building == parts[0]) & (R.c.unit == parts[1]) & (R.c.room == parts[2])
        conds.append(room)
        exact.append(room)
    elif len(parts) == 2 and all(parts):
        conds.append((R.c.building == parts[0]) & (R.c.unit == parts[1]))
    is_exact = case((or_(*exact), True), else_=False)
    stmt = (
        select(R.c.name, R.c.building, R.c.unit, R.c.room, R.c.household, R.c.phone,
               P.c.number, P.c.kind, P.c.valid_to, P.c.revoked, is_exact.label("exact"))
        .select_from(R.outerjoin(P, P.c.resident_id == R.c.id))
        .where(or_(*conds))
        .order_by(is_exact.desc(), R.c.building, R.c.unit, R.c.room, R.c.name)
        .limit(limit)
    )
    return [tuple(r) for r in conn.execute(stmt)]


_EVENT = select(E, UNDONE.label("undone"), ACKNOWLEDGED.label("acknowledged")).where(
    E.c.id == bindparam("event_id"))


def find_event(conn: Connection, event_id: str) -> object | None:
    """One recorded event, with ``undone`` (a correction event names it) and
    ``acknowledged`` (an acknowledgement event names it)."""
    return conn.execute(_EVENT, {"event_id": event_id}).first()
