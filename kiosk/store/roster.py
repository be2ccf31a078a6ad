"""Roster look-ups on the hot path: one indexed query each, SQL text on the app's sqlite3
connection (kiosk.store.lite; tables as kiosk.store.models defines them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kiosk.core.decision import Outcome, counted_exit_days
from kiosk.core.model import Direction, Pass, PassKind, Resident
from kiosk.store import lite
from kiosk.store.lite import read_date, read_datetime
from kiosk.sync.state import own_clock_error

if TYPE_CHECKING:
    from kiosk.store.lite import AnyConnection


def undone(event: str) -> str:
    """SQL: the movement ``event`` (an alias of gate_events) has been undone by a later
    correction event (found through ix_gate_events_corrects). An acknowledgement names its
    fever the same way, and undoes nothing."""
    return (f"EXISTS (SELECT 1 FROM gate_events AS c WHERE c.corrects_event_id = {event}.id "
            f"AND c.outcome = '{Outcome.UNDO.value}')")


def acknowledged(event: str) -> str:
    """SQL: the confirmed fever ``event`` has been acknowledged at the gate (the team
    leader was called)."""
    return (f"EXISTS (SELECT 1 FROM gate_events AS c WHERE c.corrects_event_id = {event}.id "
            f"AND c.outcome = '{Outcome.NOTIFIED.value}')")


@dataclass(frozen=True, slots=True)
class FoundPass:
    """A pass from the roster with the database ids the event record needs."""

    gate_pass: Pass
    pass_id: int | None  # None: a signed pass not (yet) on this kiosk's roster
    resident_id: int | None


_FIND_PASS = """
SELECT p.id, p.number, p.kind, p.valid_from, p.valid_to,
       p.revoked OR EXISTS (SELECT 1 FROM revocations AS v WHERE v.pass_number = p.number),
       p.resident_id, r.name, r.building, r.unit, r.room, r.household, r.phone
FROM passes AS p LEFT OUTER JOIN residents AS r ON p.resident_id = r.id
WHERE p.number = ?"""


def find_pass(conn: AnyConnection, number: str) -> FoundPass | None:
    """The roster's pass for this number; revoked when the roster says so or the number is
    on the revocation list (one statement: the gate asks at every scan)."""
    row = lite.driver(conn).execute(_FIND_PASS, (number.strip().upper(),)).fetchone()
    if row is None:
        return None
    (pass_id, number, kind, valid_from, valid_to, revoked, resident_id,
     name, building, unit, room, household, phone) = row
    holder = (Resident(name=name, building=building, unit=unit, room=room,
                       household=household, phone=phone)
              if resident_id is not None else None)
    return FoundPass(
        gate_pass=Pass(
            number=number,
            kind=PassKind(kind),
            valid_from=date.fromisoformat(valid_from),
            valid_to=date.fromisoformat(valid_to),
            revoked=bool(revoked),
            holder=holder,
        ),
        pass_id=pass_id,
        resident_id=resident_id,
    )


_EXIT_DAYS = f"""
SELECT e.local_date, {undone("e")} FROM gate_events AS e
WHERE e.household = :household AND e.local_date >= :since AND e.counts_against_quota = 1
UNION ALL
SELECT local_date, 0 FROM remote_movements
WHERE household = :household AND local_date >= :since AND counts_against_quota = 1"""


def household_exit_days(conn: AnyConnection, household: str, since: date) -> list[date]:
    """Days of the household's allowed exits that used its quota, since ``since``: here and,
    as far as sync has brought them, at the compound's other gates; an exit undone at the
    gate (a correction event names it) spent nothing (the core's rule)."""
    rows = lite.driver(conn).execute(_EXIT_DAYS, {"household": household,
                                                  "since": since.isoformat()})
    return counted_exit_days((date.fromisoformat(day), bool(gone)) for day, gone in rows)


_LAST_EXIT_HERE = f"""
SELECT e.wall_utc, e.utc_offset_min FROM gate_events AS e
WHERE e.household = :household AND e.local_date >= :since AND e.counts_against_quota = 1
  AND NOT {undone("e")}
ORDER BY e.seq DESC LIMIT 1"""
_LAST_EXIT_REMOTE = """
SELECT max(wall_utc) FROM remote_movements
WHERE household = :household AND local_date >= :since AND counts_against_quota = 1"""


def household_last_exit(conn: AnyConnection, household: str, since: date) -> datetime | None:
    """Local wall time of the household's newest quota-counted exit since ``since``, here
    (in the offset it was recorded with) or at another gate (in this kiosk's zone)."""
    con = lite.driver(conn)
    params = {"household": household, "since": since.isoformat()}
    times = []
    here = con.execute(_LAST_EXIT_HERE, params).fetchone()
    if here is not None:
        times.append(datetime.fromisoformat(here[0]) + timedelta(minutes=here[1] or 0))
    remote = read_datetime(lite.one(con, _LAST_EXIT_REMOTE, params))
    if remote is not None:
        times.append(remote.replace(tzinfo=UTC).astimezone().replace(tzinfo=None))
    return max(times) if times else None


_LAST_DIRECTION = f"""
SELECT e.direction, e.wall_utc, e.seq FROM gate_events AS e
WHERE e.pass_number = ? AND e.outcome = '{Outcome.ALLOW.value}' AND NOT {undone("e")}
ORDER BY e.seq DESC LIMIT 1"""
_LAST_REMOTE = """
SELECT direction, wall_utc FROM remote_movements WHERE pass_number = ?
ORDER BY wall_utc DESC, seq DESC LIMIT 1"""
#: a movement here happened no later than any later event here: bounds a fast wall clock
_LATER_BOUND = "SELECT min(wall_utc) FROM gate_events WHERE seq > ?"


def last_direction(conn: AnyConnection, pass_number: str) -> Direction | None:
    """Direction of the pass holder's newest allowed movement: at this kiosk by sequence
    (which never goes backwards even when the wall clock did), at another gate of the
    compound (downloaded by sync) when its time is later. The time here is bounded by the
    later events here and corrected by this clock's error measured at the last sync, the
    other gate's bounded by when the central store received it (kiosk.ui.vm.queries.who_is_out
    says why)."""
    con = lite.driver(conn)
    row = con.execute(_LAST_DIRECTION, (pass_number,)).fetchone()
    remote = con.execute(_LAST_REMOTE, (pass_number,)).fetchone()
    if remote is None:
        return Direction(row[0]) if row else None
    if row is None:
        return Direction(remote[0])
    here_wall = datetime.fromisoformat(row[1])
    later = read_datetime(lite.one(con, _LATER_BOUND, (row[2],)))
    when = (min(here_wall, later) if later is not None else here_wall) - own_clock_error(con)
    return Direction(remote[0] if datetime.fromisoformat(remote[1]) > when else row[0])


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


_UNFILLED = "SELECT id, name FROM residents WHERE initials IS NULL"
_FILL = "UPDATE residents SET initials = ? WHERE id = ?"


def fill_initials(conn: AnyConnection) -> int:
    """Compute the initials of everyone who has none yet (rows written before migration
    0005, or by anything other than the roster import); returns how many. About 0.6 s for
    20,000 names, once; later calls find nothing to do through the index."""
    con = lite.driver(conn)
    todo = [(initials_of(name), rid) for rid, name in con.execute(_UNFILLED).fetchall()]
    if todo:
        con.executemany(_FILL, todo)
    return len(todo)


_LETTERS = re.compile(r"[A-Z]+")
#: a pass number typed without its leading zeros: R12 for R000012
_SHORT_NUMBER = re.compile(r"([A-Z]+)(\d+)")
_SEARCH = """
SELECT r.name, r.building, r.unit, r.room, r.household, r.phone,
       p.number, p.kind, p.valid_to, p.revoked, ({exact}) AS exact
FROM residents AS r LEFT OUTER JOIN passes AS p ON p.resident_id = r.id
WHERE {matches}
ORDER BY exact DESC, r.building, r.unit, r.room, r.name
LIMIT :limit"""


def search_residents(conn: AnyConnection, query: str, limit: int = 20
                     ) -> list[tuple[object, ...]]:
    """Find people by pass number (whole, or without its leading zeros: R12 = R000012),
    building-unit-room ("12-3-402"), building-unit (every room of "12-2"), pinyin initials
    (ZSM = 张三明; a prefix lists everyone whose initials start so) or part of a name.

    Each row ends with ``exact``: the query names this person precisely (their pass number,
    room, or initials in full) rather than as one of a list; exact rows come first.
    ``valid_to`` is a date, ``revoked`` and ``exact`` are booleans."""
    q = query.strip().replace("－", "-")
    upper = q.upper()
    params: dict[str, Any] = {"limit": limit, "upper": upper,
                              "like": "%" + re.sub(r"([%_/])", r"/\1", q) + "%"}
    conds = ["r.name LIKE :like ESCAPE '/'", "p.number = :upper"]
    exact = ["p.number = :upper"]
    if _LETTERS.fullmatch(upper):
        params["upper_end"] = upper + "["
        conds.append("(r.initials >= :upper AND r.initials < :upper_end)")
        exact.append("r.initials = :upper")
    short = _SHORT_NUMBER.fullmatch(upper)
    if short:
        prefix, digits = short.groups()
        params.update(prefix=prefix, prefix_end=prefix + "[", digits_from=len(prefix) + 1,
                      digits=digits.lstrip("0") or "")
        padded = ("(p.number >= :prefix AND p.number < :prefix_end "
                  "AND ltrim(substr(p.number, :digits_from), '0') = :digits)")
        conds.append(padded)
        exact.append(padded)
    parts = q.split("-")
    if len(parts) == 3 and all(parts):
        params.update(building=parts[0], unit=parts[1], room=parts[2])
        room = "(r.building = :building AND r.unit = :unit AND r.room = :room)"
        conds.append(room)
        exact.append(room)
    elif len(parts) == 2 and all(parts):
        params.update(building=parts[0], unit=parts[1])
        conds.append("(r.building = :building AND r.unit = :unit)")
    sql = _SEARCH.format(exact=" OR ".join(exact), matches=" OR ".join(conds))
    return [(name, building, unit, room, household, phone, number, kind, read_date(valid_to),
             None if revoked is None else bool(revoked), bool(is_exact))
            for (name, building, unit, room, household, phone, number, kind, valid_to, revoked,
                 is_exact) in lite.driver(conn).execute(sql, params)]


_EVENT = f"""
SELECT e.*, {undone("e")} AS undone, {acknowledged("e")} AS acknowledged
FROM gate_events AS e WHERE e.id = ?"""


def find_event(conn: AnyConnection, event_id: str) -> dict[str, Any] | None:
    """One recorded event's columns as stored (dates as text), with ``undone`` (a
    correction event names it) and ``acknowledged`` (an acknowledgement event names it)."""
    cur = lite.driver(conn).execute(_EVENT, (event_id,))
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip((d[0] for d in cur.description), row, strict=True))
