"""Read-only questions the screens ask the store: who is out now, the shift's handover
counts. Run in the worker (they scan a day or more of events)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiosk.core.decision import Outcome
from kiosk.core.model import Direction
from kiosk.core.privacy import mask_name
from kiosk.store import lite
from kiosk.store.events import Visitor
from kiosk.store.lite import reading
from kiosk.store.roster import acknowledged, undone
from kiosk.sync.state import own_clock_error
from kiosk.ui.vm.flow import place_of

if TYPE_CHECKING:
    from kiosk.store.lite import Source

#: the case states the central store sends (kiosk.server.cases.CaseState), each with its
#: words in the catalogue (``case_<state>``); "open": not followed up yet
CASE_STATES = ("open", "taken_over", "clinic", "isolation", "hospital", "cleared")


@dataclass(frozen=True, slots=True)
class OutPerson:
    pass_number: str
    name_masked: str
    place: str
    kind: str | None
    left_utc: datetime

    def hours_out(self, now_utc: datetime) -> float:
        return (now_utc - self.left_utc).total_seconds() / 3600


_HERE = """
SELECT seq, id, pass_number, direction, wall_utc, pass_kind, outcome, visitor_name,
       corrects_event_id
FROM gate_events ORDER BY seq DESC"""
_ELSEWHERE = """
SELECT pass_number, direction, wall_utc FROM remote_movements
WHERE pass_number IS NOT NULL ORDER BY wall_utc, seq"""
_HOLDERS = """
SELECT p.number, p.kind, r.name, r.building, r.unit, r.room
FROM passes AS p LEFT OUTER JOIN residents AS r ON p.resident_id = r.id
WHERE p.number IN (SELECT value FROM json_each(?))"""


def who_is_out(db: Source) -> list[OutPerson]:
    """People whose newest allowed movement was OUT, here or at another gate of the compound
    (movements downloaded by sync), the longest out first. Visitors (no pass) are not
    tracked; a pass is one person.

    A wall clock that ran fast must not decide who is out (one event stamped 45 days ahead
    would keep a person "out" after a real later "in"). Here, the newest movement is the
    highest sequence number, and its time is bounded by every later event of this kiosk (a
    later event cannot have happened earlier) and corrected by how far this kiosk's clock
    was off at the last sync (the central store's Date against ours: a clock still 45 days
    fast would otherwise date every movement here after every real one elsewhere). Another
    gate's time comes from the central store, which never dates an event after it received
    it (kiosk.server.changes). The later of the two wins."""
    last: dict[str, tuple[str, datetime, str | None]] = {}  # pass -> direction, when, kind
    allow = Outcome.ALLOW.value
    with reading(db) as con:
        error = own_clock_error(con)  # this clock measured fast (or slow) at the last sync
        bound: datetime | None = None  # the earliest wall time of any later event here
        gone: set[str] = set()  # movements undone at the gate (a later correction)
        for (_seq, event_id, number, direction, wall_text, kind, outcome, visitor,
             corrects) in con.execute(_HERE):
            wall = datetime.fromisoformat(wall_text) - error
            bound = wall if bound is None or wall < bound else bound
            if corrects is not None:
                gone.add(corrects)
            if (outcome == allow and visitor is None and event_id not in gone
                    and number is not None and number not in last):
                last[number] = (direction, bound, kind)
        for number, direction, wall_text in con.execute(_ELSEWHERE):
            wall = datetime.fromisoformat(wall_text)
            mine = last.get(number)
            if mine is None or wall > mine[1]:
                last[number] = (direction, wall, mine[2] if mine else None)
        out_now = {n: v for n, v in last.items() if v[0] == Direction.OUT.value}
        holders: dict[str, Any] = {row[0]: row for row in con.execute(
            _HOLDERS, (json.dumps(sorted(out_now)),))} if out_now else {}
    out = []
    for number, (_direction, when, kind) in out_now.items():
        h = holders.get(number)
        _n, held_kind, name, building, unit, room = h if h else (None,) * 6
        out.append(OutPerson(
            pass_number=number, name_masked=mask_name(name or "") if h else "",
            place=place_of(building or "", unit or "", room or "") if h else "",
            kind=kind or held_kind, left_utc=when))
    return sorted(out, key=lambda p: p.left_utc)


@dataclass(frozen=True, slots=True)
class Handover:
    since_utc: datetime
    went_in: int = 0
    went_out: int = 0
    denied: int = 0
    fevers: int = 0
    visitors: int = 0
    still_out: list[OutPerson] = field(default_factory=list)


_SHIFT = f"""
SELECT e.outcome, e.direction, e.escalated, e.visitor_name FROM gate_events AS e
WHERE e.wall_utc >= :since
  AND e.outcome NOT IN ('{Outcome.REMEASURE.value}', '{Outcome.UNDO.value}')
  AND NOT {undone("e")}
  AND (:volunteer IS NULL OR e.volunteer_id = :volunteer)"""


def handover(db: Source, since_utc: datetime, volunteer_id: int | None = None) -> Handover:
    """Counts of the shift's final decisions (re-measure steps are not movements; a
    movement undone at the gate did not happen, and its correction is no decision)."""
    h = {"went_in": 0, "went_out": 0, "denied": 0, "fevers": 0, "visitors": 0}
    params = {"since": lite.sql_datetime(since_utc), "volunteer": volunteer_id}
    with reading(db) as con:
        for outcome, direction, escalated, visitor in con.execute(_SHIFT, params):
            if outcome == "allow":
                h["went_in" if direction == "in" else "went_out"] += 1
            elif outcome == "deny":  # an undo or a fever's acknowledgement stops nobody
                h["denied"] += 1
            h["fevers"] += bool(escalated)
            h["visitors"] += visitor is not None
    return Handover(since_utc=since_utc, still_out=who_is_out(db), **h)


@dataclass(frozen=True, slots=True)
class FeverFollowUp:
    """One confirmed fever recorded here, and what happened since."""

    event_id: str
    at_utc: datetime
    #: the volunteer recorded that the team leader was called
    acknowledged: bool
    #: the command's case state as the last sync brought it (None: not heard of yet)
    state: str | None

    @property
    def taken_over(self) -> bool:
        return self.state is not None and self.state != "open"


_FEVERS = f"""
SELECT e.id, e.wall_utc, {acknowledged("e")}, f.state
FROM gate_events AS e LEFT OUTER JOIN fever_cases AS f ON f.event_id = e.id
WHERE e.escalated = 1 AND e.wall_utc >= ?
ORDER BY e.seq DESC"""


def fever_follow_up(db: Source, since_utc: datetime) -> list[FeverFollowUp]:
    """This gate's confirmed fevers since ``since_utc``, newest first: acknowledged at the
    gate or not, and the case's state the district command last sent (kiosk.sync)."""
    with reading(db) as con:
        return [FeverFollowUp(event_id, datetime.fromisoformat(wall), bool(done), state)
                for event_id, wall, done, state in con.execute(
                    _FEVERS, (lite.sql_datetime(since_utc),))]


_BUILDINGS = "SELECT DISTINCT building FROM residents WHERE building != ''"


def buildings(db: Source) -> list[str]:
    """The roster's building numbers, for checking a visitor's host building; run once at
    the visitor screen's entry, in the worker."""
    with reading(db) as con:
        return [str(b) for (b,) in con.execute(_BUILDINGS)]


_VISITORS = """
SELECT visitor_name, visitor_phone, visitor_reason FROM gate_events
WHERE pass_kind = 'visitor' AND visitor_name IS NOT NULL AND visitor_name != ''
  AND corrects_event_id IS NULL
  AND id NOT IN (SELECT corrects_event_id FROM gate_events
                 WHERE corrects_event_id IS NOT NULL)
ORDER BY seq DESC LIMIT ?"""


def recent_visitors(db: Source, limit: int = 6, scan: int = 300) -> list[Visitor]:
    """The latest distinct visitors of this kiosk (name and phone), newest first, as they
    gave them: the couriers who come every day. Undone and wiped (retention) events are
    not offered. Reads the newest ``scan`` visitor events only (an index range)."""
    out: dict[tuple[str, str], Visitor] = {}
    with reading(db) as con:
        for name, phone, reason in con.execute(_VISITORS, (scan,)):
            key = (name, phone or "")
            if key not in out:
                out[key] = Visitor(name=name, phone=phone or "", reason=reason or "")
            if len(out) >= limit:
                break
    return list(out.values())


def outbox_waiting(db: Source) -> int:
    with reading(db) as con:
        return int(lite.one(con, "SELECT count(*) FROM outbox"))
