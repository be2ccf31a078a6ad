"""Read-only questions the screens ask the store: who is out now, the shift's handover
counts. Run in the worker (they scan a day or more of events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, func, select

from kiosk.core.privacy import mask_name
from kiosk.store.events import Visitor
from kiosk.store.models import (
    FeverCaseRow,
    GateEventRow,
    OutboxRow,
    PassRow,
    RemoteMovementRow,
    ResidentRow,
)
from kiosk.store.roster import ACKNOWLEDGED, UNDONE
from kiosk.sync.state import own_clock_error
from kiosk.ui.vm.flow import place_of

E = GateEventRow
R = ResidentRow
P = PassRow
RM = RemoteMovementRow
O = OutboxRow  # noqa: E741
FC = FeverCaseRow
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


def who_is_out(engine: Engine) -> list[OutPerson]:
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
    here = (
        select(E.c.seq, E.c.id, E.c.pass_number, E.c.direction, E.c.wall_utc, E.c.pass_kind,
               E.c.outcome, E.c.visitor_name, E.c.corrects_event_id)
        .order_by(E.c.seq.desc())
    )
    elsewhere = (select(RM.c.pass_number, RM.c.direction, RM.c.wall_utc)
                 .where(RM.c.pass_number.is_not(None)).order_by(RM.c.wall_utc, RM.c.seq))
    last: dict[str, tuple[str, datetime, str | None]] = {}  # pass -> direction, when, kind
    with engine.connect() as conn:
        error = own_clock_error(conn)  # this clock measured fast (or slow) at the last sync
        bound: datetime | None = None  # the earliest wall time of any later event here
        undone: set[str] = set()  # movements undone at the gate (a later correction)
        for row in conn.execute(here):
            wall = row.wall_utc - error
            bound = wall if bound is None or wall < bound else bound
            if row.corrects_event_id is not None:
                undone.add(row.corrects_event_id)
            if (row.outcome == "allow" and row.visitor_name is None and row.id not in undone
                    and row.pass_number is not None and row.pass_number not in last):
                last[row.pass_number] = (row.direction, bound, row.pass_kind)
        for other in conn.execute(elsewhere):
            mine = last.get(other.pass_number)
            if mine is None or other.wall_utc > mine[1]:
                last[other.pass_number] = (other.direction, other.wall_utc,
                                           mine[2] if mine else None)
        out_now = {n: v for n, v in last.items() if v[0] == "out"}
        holders = {r.number: r for r in conn.execute(
            select(P.c.number, P.c.kind, R.c.name, R.c.building, R.c.unit, R.c.room)
            .select_from(P.outerjoin(R, P.c.resident_id == R.c.id))
            .where(P.c.number.in_(bindparam("numbers", expanding=True))),
            {"numbers": sorted(out_now)})} if out_now else {}
    out = []
    for number, (_direction, when, kind) in out_now.items():
        h = holders.get(number)
        out.append(OutPerson(
            pass_number=number, name_masked=mask_name(h.name or "") if h else "",
            place=place_of(h.building or "", h.unit or "", h.room or "") if h else "",
            kind=kind or (h.kind if h else None), left_utc=when))
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


def handover(engine: Engine, since_utc: datetime, volunteer_id: int | None = None) -> Handover:
    """Counts of the shift's final decisions (re-measure steps are not movements; a
    movement undone at the gate did not happen, and its correction is no decision)."""
    where = [E.c.wall_utc >= since_utc, E.c.outcome.not_in(("remeasure", "undo")), ~UNDONE]
    if volunteer_id is not None:
        where.append(E.c.volunteer_id == volunteer_id)
    stmt = select(E.c.outcome, E.c.direction, E.c.escalated, E.c.visitor_name).where(*where)
    h = {"went_in": 0, "went_out": 0, "denied": 0, "fevers": 0, "visitors": 0}
    with engine.connect() as conn:
        for outcome, direction, escalated, visitor in conn.execute(stmt):
            if outcome == "allow":
                h["went_in" if direction == "in" else "went_out"] += 1
            elif outcome == "deny":  # an undo or a fever's acknowledgement stops nobody
                h["denied"] += 1
            h["fevers"] += bool(escalated)
            h["visitors"] += visitor is not None
    return Handover(since_utc=since_utc, still_out=who_is_out(engine), **h)


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


def fever_follow_up(engine: Engine, since_utc: datetime) -> list[FeverFollowUp]:
    """This gate's confirmed fevers since ``since_utc``, newest first: acknowledged at the
    gate or not, and the case's state the district command last sent (kiosk.sync)."""
    stmt = (select(E.c.id, E.c.wall_utc, ACKNOWLEDGED.label("acknowledged"), FC.c.state)
            .select_from(E.outerjoin(FC, FC.c.event_id == E.c.id))
            .where(E.c.escalated.is_(True), E.c.wall_utc >= since_utc)
            .order_by(E.c.seq.desc()))
    with engine.connect() as conn:
        return [FeverFollowUp(r.id, r.wall_utc, bool(r.acknowledged), r.state)
                for r in conn.execute(stmt)]


def buildings(engine: Engine) -> list[str]:
    """The roster's building numbers, for checking a visitor's host building; run once at
    the visitor screen's entry, in the worker."""
    stmt = select(R.c.building).where(R.c.building != "").distinct()
    with engine.connect() as conn:
        return [str(b) for (b,) in conn.execute(stmt)]


def recent_visitors(engine: Engine, limit: int = 6, scan: int = 300) -> list[Visitor]:
    """The latest distinct visitors of this kiosk (name and phone), newest first, as they
    gave them: the couriers who come every day. Undone and wiped (retention) events are
    not offered. Reads the newest ``scan`` visitor events only (an index range)."""
    stmt = (select(E.c.visitor_name, E.c.visitor_phone, E.c.visitor_reason)
            .where(E.c.pass_kind == "visitor", E.c.visitor_name.is_not(None),
                   E.c.visitor_name != "", E.c.corrects_event_id.is_(None))
            .order_by(E.c.seq.desc()).limit(scan))
    undone = select(E.c.corrects_event_id).where(E.c.corrects_event_id.is_not(None))
    out: dict[tuple[str, str], Visitor] = {}
    with engine.connect() as conn:
        stmt = stmt.where(E.c.id.not_in(undone))
        for name, phone, reason in conn.execute(stmt):
            key = (name, phone or "")
            if key not in out:
                out[key] = Visitor(name=name, phone=phone or "", reason=reason or "")
            if len(out) >= limit:
                break
    return list(out.values())


def outbox_waiting(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(O)).scalar_one())


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
