"""Fever cases (issue 15 point 2): every confirmed fever (an event the kiosk escalated) is a
case, followed on the dashboard step by step (sent to the fever clinic, in isolation,
cleared, ...) by whom, when, with a note, until a step closes it.

Cases are made from the events themselves (``open_new_cases``, run before any list of
cases is read: the overview, a compound, the nightly briefing), so no fever is missed
whichever path stored it; the unique event id makes a second run, or two at once, add
nothing. The gate's acknowledgement of a fever (an event naming it: who was called, when,
by which volunteer) is the case's first step, recorded as the event is stored
(``record_acknowledgements``, from ingest). A gate learns its compound's cases that someone
has taken over (``for_gate``, sent with /changes): the gate-side display is the kiosk's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

from kiosk.core.decision import Outcome
from kiosk.server import audit
from kiosk.server.clock import utc_now
from kiosk.server.models import DeviceVolunteerRow, EventRow, FeverCaseRow, FeverCaseStepRow
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.models import table_of

CASES = table_of(FeverCaseRow)
STEPS = table_of(FeverCaseStepRow)
EV = table_of(EventRow)
DEVICE_VOLUNTEERS = table_of(DeviceVolunteerRow)
#: audit action of a step entered on the dashboard
CASE_STEP = "case_step"
#: fevers looked for when cases are brought up to date (older ones are made by earlier runs)
LOOK_BACK_DAYS = 14
NOTE_MAX = 500
#: closed cases a gate still hears about (so it can show "cleared")
GATE_CLOSED_FOR = timedelta(hours=24)
GATE_MAX = 100


class CaseState(StrEnum):
    OPEN = "open"  # not followed up yet
    TAKEN_OVER = "taken_over"
    CLINIC = "clinic"
    ISOLATION = "isolation"
    HOSPITAL = "hospital"
    CLEARED = "cleared"


#: what a step shows, Chinese first
STATE_TEXT = {
    CaseState.OPEN: "待跟进 / awaiting follow-up",
    CaseState.TAKEN_OVER: "已接手 / taken over",
    CaseState.CLINIC: "已送发热门诊 / sent to the fever clinic",
    CaseState.ISOLATION: "隔离中 / in isolation",
    CaseState.HOSPITAL: "已住院 / in hospital",
    CaseState.CLEARED: "已排除,结案 / cleared, closed",
}
#: steps a user may enter (every state but the first); a note alone is "note"
NOTE = "note"
#: the step a gate's acknowledgement records (never entered on the dashboard)
GATE_ACK = "gate_ack"
GATE_ACK_TEXT = "卡口已通知组长 / gate: team leader called"
#: days between a fever and its acknowledgement that are looked at (a fever just before
#: midnight is acknowledged the next day)
ACK_DAYS = 1
STEP_CHOICES = [(s.value, STATE_TEXT[s]) for s in CaseState if s is not CaseState.OPEN] + [
    (NOTE, "备注 / note only")]
CLOSING = {CaseState.CLEARED}


class CaseError(ValueError):
    """A step that cannot be entered as asked; the message is shown as it is."""


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    step: str
    by: str
    note: str

    @property
    def text(self) -> str:
        if self.step == NOTE:
            return "备注 / note"
        if self.step == GATE_ACK:
            return GATE_ACK_TEXT
        return STATE_TEXT[CaseState(self.step)]


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    event_id: str
    compound: str
    checkpoint: str
    pass_number: str | None
    household: str | None
    opened: datetime  # the command's zone
    state: CaseState
    updated: datetime
    closed: datetime | None
    overdue: bool

    @property
    def state_text(self) -> str:
        return STATE_TEXT[self.state]

    @property
    def is_open(self) -> bool:
        return self.closed is None


def _insert_missing(conn: Connection, table: Any = CASES) -> Any:
    """INSERT that skips an event already made a case, or a step (by a concurrent run,
    too)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
    return insert(table)


def record_acknowledgements(conn: Connection, device: Any, events: list[dict[str, Any]]
                            ) -> int:
    """The gate's acknowledgements among newly stored ``events`` (JSON form) of ``device``
    become the first step of their fever's case (made now if it is not yet): who was called
    (the event's note), by which volunteer, when (the event's time). Only a fever of the
    device's own compound; a second copy of the same event adds nothing. Returns the steps
    added. Runs in ingest's transaction."""
    acks = [e for e in events if e["outcome"] == Outcome.NOTIFIED.value
            and e.get("corrects_event_id")]
    added = 0
    for e in acks:
        acked = date.fromisoformat(e["local_date"]) if isinstance(e["local_date"], str) \
            else e["local_date"]
        fever = conn.execute(
            select(EV.c.id, EV.c.local_date, EV.c.compound, EV.c.checkpoint,
                   EV.c.pass_number, EV.c.household, EV.c.wall_utc)
            .where(EV.c.id == e["corrects_event_id"], EV.c.escalated.is_(True),
                   EV.c.compound == device.compound,
                   EV.c.local_date.between(acked - timedelta(days=ACK_DAYS), acked))).first()
        if fever is None:
            continue  # not a fever of this compound: the event is kept, no step
        conn.execute(_insert_missing(conn), [{
            "event_id": fever.id, "local_date": fever.local_date, "compound": fever.compound,
            "checkpoint": fever.checkpoint, "pass_number": fever.pass_number,
            "household": fever.household, "opened_utc": fever.wall_utc,
            "state": CaseState.OPEN.value, "updated_at": utc_now(), "closed_at": None}])
        case_id = conn.execute(select(CASES.c.id).where(CASES.c.event_id == fever.id)).scalar()
        vid = e.get("volunteer_id")
        name = conn.execute(select(DEVICE_VOLUNTEERS.c.name).where(
            DEVICE_VOLUNTEERS.c.device_id == device.id,
            DEVICE_VOLUNTEERS.c.volunteer_id == vid)).scalar() if vid is not None else None
        who = name or (f"#{vid}" if vid is not None else "?")
        wall = e["wall_utc"] if isinstance(e["wall_utc"], datetime) \
            else datetime.fromisoformat(e["wall_utc"])
        result = conn.execute(_insert_missing(conn, STEPS), [{
            "case_id": case_id, "step": GATE_ACK,
            "at": wall.replace(tzinfo=None),  # naive UTC, as every stored time
            "by": f"{device.checkpoint} · {who}"[:100],
            "note": f"已通知 / called: {e.get('note') or '-'}", "event_id": e["id"]}])
        added += max(result.rowcount, 0)
    return added


def open_new_cases(engine: Engine, today: date) -> int:
    """A case for every confirmed fever of the last LOOK_BACK_DAYS days that has none;
    returns how many were made."""
    now = utc_now()
    with engine.connect() as conn:
        fevers = list(conn.execute(
            select(EV.c.id, EV.c.local_date, EV.c.compound, EV.c.checkpoint,
                   EV.c.pass_number, EV.c.household, EV.c.wall_utc)
            .where(EV.c.escalated.is_(True),
                   EV.c.local_date >= today - timedelta(days=LOOK_BACK_DAYS),
                   ~exists().where(CASES.c.event_id == EV.c.id))))
    if not fevers:
        return 0
    with engine.begin() as conn:
        conn.execute(_insert_missing(conn), [{
            "event_id": f.id, "local_date": f.local_date, "compound": f.compound,
            "checkpoint": f.checkpoint, "pass_number": f.pass_number,
            "household": f.household, "opened_utc": f.wall_utc,
            "state": CaseState.OPEN.value, "updated_at": now, "closed_at": None}
            for f in fevers])
    return len(fevers)


def _case(r: Any, settings: DashboardSettings, overdue_after: timedelta) -> Case:
    opened = settings.from_utc(r.opened_utc)
    return Case(r.id, r.event_id, r.compound, r.checkpoint, r.pass_number, r.household,
                opened, CaseState(r.state), settings.from_utc(r.updated_at),
                None if r.closed_at is None else settings.from_utc(r.closed_at),
                r.closed_at is None and datetime.now(UTC) - opened > overdue_after)


def open_cases(engine: Engine, settings: DashboardSettings, compound: str | None = None,
               checkpoint: str | None = None) -> list[Case]:
    """Cases not closed, oldest first (made up to date first), of the district, a compound
    or a gate."""
    open_new_cases(engine, settings.today())
    where: list[ColumnElement[bool]] = [CASES.c.closed_at.is_(None)]
    if compound is not None:
        where.append(CASES.c.compound == compound)
    if checkpoint is not None:
        where.append(CASES.c.checkpoint == checkpoint)
    with engine.connect() as conn:
        rows = conn.execute(select(CASES).where(*where).order_by(CASES.c.opened_utc))
        return [_case(r, settings, settings.case_overdue) for r in rows]


def case_with_steps(engine: Engine, settings: DashboardSettings, case_id: int
                    ) -> tuple[Case, list[Step]] | None:
    with engine.connect() as conn:
        r = conn.execute(select(CASES).where(CASES.c.id == case_id)).first()
        if r is None:
            return None
        steps = [Step(settings.from_utc(s.at), s.step, s.by, s.note)
                 for s in conn.execute(select(STEPS).where(STEPS.c.case_id == case_id)
                                       .order_by(STEPS.c.id))]
    return _case(r, settings, settings.case_overdue), steps


def add_step(engine: Engine, case_id: int, step: str, by: str, note: str,
             client: str = "") -> None:
    """Enter a follow-up step (or a note) and, with it, the audit row; a closing step closes
    the case. Raises CaseError for an unknown step, a long note, a closed case."""
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise CaseError(f"备注最多 {NOTE_MAX} 字 / A note is at most {NOTE_MAX} characters")
    if step != NOTE:
        try:
            state: CaseState | None = CaseState(step)
        except ValueError:
            raise CaseError(f"未知步骤 / Unknown step {step!r}") from None
        if state is CaseState.OPEN:
            raise CaseError(f"未知步骤 / Unknown step {step!r}")
    else:
        state = None
        if not note:
            raise CaseError("请填写备注 / Write the note")
    now = utc_now()
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        row = conn.execute(select(CASES.c.closed_at).where(CASES.c.id == case_id)
                           .with_for_update()).first()
        if row is None:
            raise CaseError(f"没有这个病例 / No case {case_id}")
        if row.closed_at is not None:
            raise CaseError("此病例已结案 / This case is closed")
        conn.execute(insert(STEPS).values(case_id=case_id, step=step, at=now, by=by,
                                          note=note))
        values: dict[str, Any] = {"updated_at": now}
        if state is not None:
            values["state"] = state.value
            if state in CLOSING:
                values["closed_at"] = now
        conn.execute(update(CASES).where(CASES.c.id == case_id).values(**values))
        audit.record_in(conn, by, CASE_STEP, {"case": case_id, "step": step}, client, now)


def for_gate(conn: Connection, compound: str) -> list[dict[str, Any]]:
    """What a gate of ``compound`` hears about its cases (with every /changes page; a few
    rows): those someone took over and still open, and those closed in the last day, by the
    fever's event id."""
    since = utc_now() - GATE_CLOSED_FOR
    rows = conn.execute(
        select(CASES.c.event_id, CASES.c.state, CASES.c.updated_at)
        .where(CASES.c.compound == compound, CASES.c.state != CaseState.OPEN.value,
               CASES.c.closed_at.is_(None) | (CASES.c.closed_at >= since))
        .order_by(CASES.c.updated_at.desc()).limit(GATE_MAX))
    return [{"event_id": r.event_id, "state": r.state, "updated_at": r.updated_at.isoformat()}
            for r in rows]
