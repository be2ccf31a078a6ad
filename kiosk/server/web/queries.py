"""What the dashboard pages show, read in one place for a scope: the district, one compound
or one gate.

Every query of a day filters on ``local_date`` (the events' primary key and, on PostgreSQL,
their partition), so a page reads today's partition and, for the 14-day chart and "who is
out", the last two weeks'. Times come back in the command's zone (settings.DashboardSettings).
A fever is an event the kiosk escalated (a confirmed fever), whatever the reason recorded
next to it (a fever may stand beside a denial for the papers).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.sql import ColumnElement

from kiosk.core.clock import clock_is_off
from kiosk.core.messages import MESSAGES, Reason
from kiosk.server.clock import utc_now
from kiosk.server.ingest import DEV, EV, FI
from kiosk.server.models import HeldEventRow
from kiosk.server.rules import RULES
from kiosk.server.tallies import DAYS, HOURS, LAST, OUT
from kiosk.server.web.settings import DashboardSettings
from kiosk.store.models import table_of

HELD = table_of(HeldEventRow)
#: "who is out" looks this far back (older exits are not "out", they are missing records)
OUT_DAYS = 14
#: days in the denials-and-fevers chart, today included
CHART_DAYS = 14
#: rows of "who is out" on one page
OUT_PAGE = 100
LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Scope:
    """The district (both None), a compound, or one gate of a compound."""

    compound: str | None = None
    checkpoint: str | None = None

    def where(self, table: Table, *, gate: bool = True) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if self.compound is not None:
            clauses.append(table.c.compound == self.compound)
        if gate and self.checkpoint is not None:
            clauses.append(table.c.checkpoint == self.checkpoint)
        return clauses


@dataclass(frozen=True, slots=True)
class Tally:
    """One gate's day: allowed movements in and out, denials, confirmed fevers."""

    compound: str
    checkpoint: str
    moves_in: int = 0
    moves_out: int = 0
    denials: int = 0
    fevers: int = 0


@dataclass(frozen=True, slots=True)
class CompoundRow:
    compound: str
    gates: int
    moves_in: int
    moves_out: int
    denials: int
    fevers: int
    out_now: int
    attention: int


@dataclass(frozen=True, slots=True)
class Fever:
    at: datetime
    compound: str
    checkpoint: str
    pass_number: str | None
    reason: str
    temps: str


@dataclass(frozen=True, slots=True)
class Outside:
    pass_number: str
    household: str
    compound: str
    checkpoint: str
    since: datetime


@dataclass(frozen=True, slots=True)
class GateHealth:
    device_id: str
    compound: str
    checkpoint: str
    last_contact: datetime | None
    contact_age: timedelta | None
    silent: bool
    #: roster, revocations and keys at the gate are older than the limit
    stale: bool
    clock_offset_s: float | None
    clock_off: bool
    pending: int
    quarantined: int
    last_seq: int
    gaps: str
    active: bool
    #: ``kiosk`` or ``hub`` (a compound hub: its "last contact" says whether the district
    #: reaches it, its "waiting" is its relay backlog)
    role: str = "kiosk"
    #: the hub (its checkpoint name) that relayed the gate's last batch; None: direct
    via_hub: str | None = None
    #: how old the gate's roster, revocations and keys are: as the kiosk reported it, or
    #: (``data_reported`` False: an older kiosk) at least as old as its last contact;
    #: None: never received (or never in contact)
    data_age: timedelta | None = None
    data_reported: bool = False
    #: the command's rule set the gate said it decides with (None: its own settings)
    rules_version: int | None = None
    #: events a hub relayed for the gate while the store has no key of the gate's: held,
    #: not stored, until the gate registers its key over its own connection (hub.py)
    held: int = 0

    @property
    def attention(self) -> bool:
        """Silent, wrong clock, or events the store has not got (waiting, quarantined, or
        held for the gate's key)."""
        return self.active and (self.silent or self.clock_off or self.quarantined > 0
                                or bool(self.gaps) or self.held > 0)


@dataclass(frozen=True, slots=True)
class Finding:
    at: datetime
    kind: str
    compound: str
    checkpoint: str
    seq: int | None
    detail: str
    #: when it stopped standing (a quota conflict whose outing was undone), and why
    withdrawn_at: datetime | None = None
    withdrawn_why: str = ""


@dataclass(frozen=True, slots=True)
class Movement:
    at: datetime
    direction: str
    pass_number: str | None
    outcome: str
    reason: str
    escalated: bool


@dataclass(frozen=True, slots=True)
class Hourly:
    """Allowed movements per local hour of the day (index 0-23) at one gate."""

    compound: str
    checkpoint: str
    ins: tuple[int, ...]
    outs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    denials: int
    fevers: int


@dataclass
class View:
    """Everything one page shows."""

    scope: Scope
    today: date
    now: datetime
    tallies: list[Tally]
    denials: list[tuple[str, str, int]]  # reason code, text, count
    fevers: list[Fever]
    out_total: int
    out_by_compound: dict[str, int]
    out_first: list[Outside]
    gates: list[GateHealth]
    findings: list[Finding]
    #: per gate; for the district, one row of every gate together
    hourly: list[Hourly]
    days: list[DayCount]
    recent: list[Movement] = field(default_factory=list)
    #: the highest rule set version whose moment has come (None: none published)
    rules_in_force: int | None = None

    @property
    def total(self) -> Tally:
        return Tally("", "", sum(t.moves_in for t in self.tallies),
                     sum(t.moves_out for t in self.tallies),
                     sum(t.denials for t in self.tallies), sum(t.fevers for t in self.tallies))

    @property
    def silent(self) -> list[GateHealth]:
        return [g for g in self.gates if g.active and g.silent]

    @property
    def stale(self) -> list[GateHealth]:
        return [g for g in self.gates if g.active and g.stale]

    @property
    def clock_wrong(self) -> list[GateHealth]:
        return [g for g in self.gates if g.active and g.clock_off]

    @property
    def attention(self) -> list[GateHealth]:
        return [g for g in self.gates if g.attention]

    def compounds(self) -> list[CompoundRow]:
        """Per compound: its gates (enrolled or seen today) and today's counts."""
        names = sorted({g.compound for g in self.gates} | {t.compound for t in self.tallies})
        rows = []
        for name in names:
            ts = [t for t in self.tallies if t.compound == name]
            gs = [g for g in self.gates if g.compound == name and g.active]
            rows.append(CompoundRow(
                name, len(gs), sum(t.moves_in for t in ts), sum(t.moves_out for t in ts),
                sum(t.denials for t in ts), sum(t.fevers for t in ts),
                self.out_by_compound.get(name, 0), sum(g.attention for g in gs)))
        return rows

    def hourly_total(self) -> Hourly:
        return Hourly(self.scope.compound or "", self.scope.checkpoint or "",
                      tuple(sum(h.ins[i] for h in self.hourly) for i in range(24)),
                      tuple(sum(h.outs[i] for h in self.hourly) for i in range(24)))


def reason_text(code: str) -> str:
    """The reason as the gate showed it, Chinese first (the code itself when unknown)."""
    try:
        m = MESSAGES[Reason(code)]
    except (ValueError, KeyError):
        return code
    return f"{m.zh} / {m.en}"


def _temps(record: str) -> str:
    readings = json.loads(record).get("readings", [])
    return " / ".join(f"{r['used_c']:.1f}" for r in readings if r.get("used_c") is not None)


def _tallies(conn: Connection, scope: Scope, today: date) -> list[Tally]:
    rows = conn.execute(
        select(DAYS.c.compound, DAYS.c.checkpoint, func.sum(DAYS.c.moves_in),
               func.sum(DAYS.c.moves_out), func.sum(DAYS.c.denials), func.sum(DAYS.c.fevers))
        .where(DAYS.c.local_date == today, *scope.where(DAYS))
        .group_by(DAYS.c.compound, DAYS.c.checkpoint)
        .order_by(DAYS.c.compound, DAYS.c.checkpoint)).all()
    return [Tally(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]


def _out_now(scope: Scope, today: date) -> list[ColumnElement[bool]]:
    """Passes whose newest allowed movement in their compound, in the last OUT_DAYS days,
    was "out" (kiosk.server.tallies keeps it; the gate filter is where they went out)."""
    return [LAST.c.direction == "out", LAST.c.local_date >= today - timedelta(days=OUT_DAYS),
            *scope.where(LAST)]


def out_now_counts(conn: Connection, scope: Scope, today: date) -> dict[str, int]:
    """Who is out, counted per compound: from out_counts (a row per compound and day), or
    for one gate from its rows of last_movements."""
    if scope.checkpoint is not None:
        rows = conn.execute(select(LAST.c.compound, func.count())
                            .where(*_out_now(scope, today)).group_by(LAST.c.compound)).all()
    else:
        rows = conn.execute(
            select(OUT.c.compound, func.sum(OUT.c.n))
            .where(OUT.c.local_date >= today - timedelta(days=OUT_DAYS), *scope.where(OUT))
            .group_by(OUT.c.compound)).all()
    return {r[0]: int(r[1]) for r in rows if r[1]}


def out_now_page(conn: Connection, settings: DashboardSettings, scope: Scope, today: date,
                 offset: int, limit: int) -> list[Outside]:
    """Who is out, longest out first."""
    rows = conn.execute(
        select(LAST.c.pass_number, LAST.c.household, LAST.c.compound, LAST.c.checkpoint,
               LAST.c.at)
        .where(*_out_now(scope, today)).order_by(LAST.c.at, LAST.c.pass_number)
        .offset(offset).limit(limit)).all()
    return [Outside(r.pass_number, r.household or "", r.compound, r.checkpoint,
                    settings.from_utc(r.at)) for r in rows]


def gate_health(conn: Connection, settings: DashboardSettings, scope: Scope
                ) -> list[GateHealth]:
    now = utc_now()  # last contact and data age: naive UTC
    gates = []
    rows = conn.execute(select(DEV).where(*scope.where(DEV))
                        .order_by(DEV.c.compound, DEV.c.checkpoint)).all()
    hubs = {d.id: d.checkpoint for d in rows if d.role == "hub"}
    # a few rows at most (only gates behind a hub, before their key came), by device
    held: dict[str, int] = dict(conn.execute(
        select(HELD.c.device_id, func.count()).group_by(HELD.c.device_id)).all())
    for d in rows:
        age = now - d.last_contact if d.last_contact is not None else None
        if d.data_reported:  # what the kiosk said at its last push, aged since
            data_age = now - d.data_as_of if d.data_as_of is not None else None
        else:  # a kiosk fetches at every contact: its data is at least that old
            data_age = age
        gates.append(GateHealth(
            d.id, d.compound, d.checkpoint,
            settings.from_utc(d.last_contact) if d.last_contact is not None else None,
            age, age is None or age > settings.silent_after,
            data_age is None or data_age > settings.stale_after, d.clock_offset_s,
            clock_is_off(d.clock_offset_s), d.pending, d.quarantined, d.last_seq,
            ", ".join(f"{a}-{b}" for a, b in json.loads(d.gaps)), bool(d.active),
            d.role, hubs.get(d.via_hub, "hub") if d.via_hub else None,
            data_age, bool(d.data_reported), d.rules_version, int(held.get(d.id, 0))))
    return gates


def _hourly(conn: Connection, settings: DashboardSettings, scope: Scope, today: date
            ) -> list[Hourly]:
    """Per gate of a compound; for the district one row, all gates together (the overview
    shows only the total: 24 rows read instead of one per gate and hour)."""
    per_gate = scope.compound is not None
    gate_cols = (HOURS.c.compound, HOURS.c.checkpoint) if per_gate else ()
    rows = conn.execute(
        select(*gate_cols, HOURS.c.hour, func.sum(HOURS.c.moves_in),
               func.sum(HOURS.c.moves_out))
        .where(HOURS.c.local_date == today, *scope.where(HOURS))
        .group_by(*gate_cols, HOURS.c.hour)).all()
    per: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(
        lambda: {"in": [0] * 24, "out": [0] * 24})
    local = [settings.utc_hour_to_local(today, h) for h in range(24)]
    for row in rows:
        compound, checkpoint = (row[0], row[1]) if per_gate else ("", "")
        utc_hour, ins, outs = row[-3:]
        gate = per[(compound, checkpoint)]
        gate["in"][local[utc_hour]] += int(ins)
        gate["out"][local[utc_hour]] += int(outs)
    return [Hourly(c, g, tuple(v["in"]), tuple(v["out"])) for (c, g), v in sorted(per.items())]


def _days(conn: Connection, scope: Scope, today: date) -> list[DayCount]:
    first = today - timedelta(days=CHART_DAYS - 1)
    rows = conn.execute(
        select(DAYS.c.local_date, func.sum(DAYS.c.denials), func.sum(DAYS.c.fevers))
        .where(DAYS.c.local_date >= first, DAYS.c.local_date <= today, *scope.where(DAYS))
        .group_by(DAYS.c.local_date)).all()
    found = {r[0]: (int(r[1]), int(r[2])) for r in rows}
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    return [DayCount(d, *found.get(d, (0, 0))) for d in days]


def _recent(conn: Connection, settings: DashboardSettings, scope: Scope, today: date
            ) -> list[Movement]:
    """A gate's latest 50 records of the day, through its devices' (device, seq) index (a
    gate name alone has no index: that would read the whole day)."""
    devices = list(conn.execute(select(DEV.c.id).where(*scope.where(DEV))).scalars())
    if not devices:
        return []
    rows = conn.execute(
        select(EV.c.wall_utc, EV.c.direction, EV.c.pass_number, EV.c.outcome, EV.c.reason,
               EV.c.escalated)
        .where(EV.c.local_date == today, EV.c.device_id.in_(devices), *scope.where(EV))
        .order_by(EV.c.device_id, EV.c.seq.desc()).limit(50 * len(devices))).all()
    rows = sorted(rows, key=lambda r: r.wall_utc, reverse=True)[:50]
    return [Movement(settings.from_utc(r.wall_utc), r.direction, r.pass_number, r.outcome,
                     r.reason, bool(r.escalated)) for r in rows]


def view(engine: Engine, settings: DashboardSettings, scope: Scope,
         today: date | None = None) -> View:
    """One page's data for ``scope`` on ``today`` (the command's date by default)."""
    today = today or settings.today()
    with engine.connect() as conn:
        tallies = _tallies(conn, scope, today)
        denied = func.sum(DAYS.c.denials)
        denials = conn.execute(
            select(DAYS.c.reason, denied)
            .where(DAYS.c.local_date == today, DAYS.c.denials > 0, *scope.where(DAYS))
            .group_by(DAYS.c.reason).order_by(denied.desc(), DAYS.c.reason)).all()
        fevers = conn.execute(
            select(EV.c.wall_utc, EV.c.compound, EV.c.checkpoint, EV.c.pass_number,
                   EV.c.reason, EV.c.record)
            .where(EV.c.local_date == today, EV.c.escalated.is_(True), *scope.where(EV))
            .order_by(EV.c.wall_utc.desc()).limit(LIST_LIMIT)).all()
        out_counts = out_now_counts(conn, scope, today)
        out_first = out_now_page(conn, settings, scope, today, 0, 10)
        gates = gate_health(conn, settings, scope)
        findings = conn.execute(select(FI).where(*scope.where(FI))
                                .order_by(FI.c.id.desc()).limit(50)).all()
        recent = (_recent(conn, settings, scope, today) if scope.checkpoint is not None
                  else [])
        return View(
            scope=scope, today=today, now=settings.now(), tallies=tallies,
            denials=[(r[0], reason_text(r[0]), int(r[1])) for r in denials],
            fevers=[Fever(settings.from_utc(r.wall_utc), r.compound, r.checkpoint,
                          r.pass_number, r.reason, _temps(r.record)) for r in fevers],
            out_total=sum(out_counts.values()), out_by_compound=out_counts,
            out_first=out_first, gates=gates,
            findings=[Finding(settings.from_utc(f.at), f.kind, f.compound, f.checkpoint,
                              f.seq, f.detail,
                              None if f.withdrawn_at is None
                              else settings.from_utc(f.withdrawn_at),
                              f.withdrawn_why or "") for f in findings],
            hourly=_hourly(conn, settings, scope, today), days=_days(conn, scope, today),
            recent=recent,
            rules_in_force=conn.execute(select(func.max(RULES.c.version)).where(
                RULES.c.effective_utc <= utc_now())).scalar())
