"""The gate service: identify a pass, decide with the pure core, record durably.

The app, the CLI (``kiosk check``) and the benchmarks all go through ``Gate.check`` so they
make exactly the same decision and the same record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from kiosk import sysclock
from kiosk.core.clock import ClockSample
from kiosk.core.decision import (
    LEADER_NOTIFIED,
    UNDONE,
    Decision,
    acknowledge_refusal,
    check_papers,
    decide,
    decide_visitor,
    default_direction,
    explain,
    undo_refusal,
)
from kiosk.core.event import EventInvalid, IdentifiedBy
from kiosk.core.messages import Message, Reason, detail
from kiosk.core.model import Direction, Pass, PassKind
from kiosk.core.passcode import SIGNATURE_FAILURES, looks_signed, verify_pass
from kiosk.core.policy import Policy
from kiosk.core.screening import Reading
from kiosk.settings import Settings
from kiosk.store import audit
from kiosk.store.db import Store
from kiosk.store.events import EventWriter, Movement, RecordedEvent, Visitor
from kiosk.store.passkeys import is_revoked, public_keys
from kiosk.store.roster import (
    FoundPass,
    fill_initials,
    find_event,
    find_pass,
    household_exit_days,
    household_last_exit,
    last_direction,
    search_residents,
)
from kiosk.store.rules import active as active_rules
from kiosk.store.volunteers import actor_name

#: most people one search lists (a unit's rooms fit; a vaguer query must be narrowed)
SEARCH_LIMIT = 40


class GateError(Exception):
    """A movement the gate will not record. ``refusal`` (Chinese and English) is set when
    the record itself breaks a limit of the gate event (kiosk.core.event): what the central
    store would refuse is refused here, before anything is written."""

    def __init__(self, text: str, refusal: Message | None = None) -> None:
        super().__init__(text)
        self.refusal = refusal

    @classmethod
    def of(cls, exc: EventInvalid) -> GateError:
        return cls(f"{exc.message.en} ({exc.message.zh})", exc.message)


class AlreadyAcknowledged(GateError):
    """The fever's acknowledgement is recorded already (the first answer was lost)."""


class DirectionMode(StrEnum):
    """How a checkpoint records directions (``checkpoint.direction_mode`` in the settings)."""

    BOTH = "both"  # the volunteer toggles IN/OUT
    IN = "in"  # a one-way entrance
    OUT = "out"  # a one-way exit

    @property
    def fixed(self) -> Direction | None:
        """The only direction a one-way gate records; None when both are possible."""
        return None if self is DirectionMode.BOTH else Direction(self.value)


@dataclass(frozen=True, slots=True)
class ResidentHit:
    """A person a search found, as the roster has them (the screen masks the name)."""

    number: str
    name: str
    building: str
    unit: str
    room: str
    kind: str | None
    #: the pass is neither revoked nor past its last day: worth picking
    usable: bool
    household: str = ""
    #: the query names this person precisely (pass number, room, full initials)
    exact: bool = False


@dataclass(frozen=True, slots=True)
class Presented:
    """What the volunteer has in front of them after a scan, a search or a typed number."""

    number: str
    found: FoundPass | None
    #: set when the paper itself is refused before any rule applies (a forged QR)
    problem: Reason | None = None
    #: the QR was signed by a known office key and verified offline
    signed: bool = False


@dataclass(frozen=True, slots=True)
class GateResult:
    decision: Decision
    event: RecordedEvent
    found: FoundPass | None
    direction: Direction
    #: the facts behind a refusal in both languages (the number, the dates, the last
    #: outing and the next), None when there are none
    detail: Message | None = None


def _identify(conn: sqlite3.Connection, pass_number: str) -> FoundPass | None:
    """The roster's pass, marked revoked when it is on the revocation list too."""
    return find_pass(conn, pass_number)


def _exit_days(conn: sqlite3.Connection, gate_pass: Pass | None, now: datetime,
               policy: Policy) -> list[date]:
    """The days of the household's recent quota-counted exits (none without a household)."""
    household = gate_pass.household if gate_pass else None
    if household is None:
        return []
    return household_exit_days(conn, household, now.date() - timedelta(days=policy.quota_days))


class Gate:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], ClockSample] = sysclock.sample,
        os_synced: Callable[[], bool | None] = sysclock.os_clock_synced,
    ) -> None:
        self.store = store
        #: the settings and the policy made from them, swapped together by
        #: ``apply_settings``: one assignment, so a decision never sees half of a change
        self._rules: tuple[Settings, Policy] = (settings, settings.policy())
        self._clock = clock
        self._os_synced = os_synced if settings.device.require_clock_sync else (lambda: None)
        self._writer = EventWriter(store.path)

    @property
    def settings(self) -> Settings:
        return self._rules[0]

    @property
    def policy(self) -> Policy:
        """The policy of the next decision: the settings' with the command's rule set in
        force now, if one verifies (kiosk.store.rules)."""
        settings, policy = self._rules
        with self.store.db.read() as conn:
            return self._in_force(conn, settings, policy, self._clock())

    @staticmethod
    def _in_force(conn: sqlite3.Connection, settings: Settings, policy: Policy, clock: ClockSample
                  ) -> Policy:
        rules = active_rules(conn, datetime.fromtimestamp(clock.wall_s, UTC)
                             .replace(tzinfo=None))
        return policy if rules is None else rules.policy_for(policy, settings.checkpoint.id)

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings (an admin save, a policy the sync downloaded) from the next
        decision on. Callable from any thread: a decision in progress keeps the settings
        and policy it started with, the next one gets both new ones."""
        self._rules = (settings, settings.policy())

    @property
    def direction_mode(self) -> DirectionMode:
        return DirectionMode(self.settings.checkpoint.direction_mode)

    def close(self) -> None:
        self._writer.close()

    def search(self, query: str, *, volunteer_id: int | None = None,
               where: str = "gate screen") -> list[ResidentHit]:
        """People matching a pass number, building-unit-room or part of a name, with a pass.

        A look-up of residents' data: audited (who asked, what, how many found, where)."""
        query = query.strip()
        today = date.today()
        with self.store.db.write() as conn:  # the look-up and its audit row commit together
            fill_initials(conn)  # rows from before the initials existed: once
            rows: list[tuple[Any, ...]] = search_residents(conn, query, limit=SEARCH_LIMIT)
            audit.record_in(conn, actor_name(conn, volunteer_id), audit.LOOKUP,
                            {"query": query, "results": len(rows), "where": where})
        return [
            ResidentHit(number=str(number), name=str(name), building=str(building),
                        unit=str(unit), room=str(room),
                        kind=None if kind is None else str(kind),
                        usable=not revoked and (valid_to is None or valid_to >= today),
                        household=str(household or ""), exact=bool(exact))
            for (name, building, unit, room, household, _p, number, kind, valid_to, revoked,
                 exact) in rows
            if number
        ]

    def papers(self, presented: Presented, direction: Direction) -> Reason | None:
        """What is wrong with the papers presented, for this direction now (the quota
        included); None when they are in order. The decision itself is ``check``'s."""
        if presented.problem is not None:
            return presented.problem
        gate_pass = presented.found.gate_pass if presented.found else None
        policy = self.policy
        now = datetime.fromtimestamp(self._clock().wall_s)
        with self.store.db.read() as conn:
            exit_days = _exit_days(conn, gate_pass, now, policy)
        return check_papers(gate_pass, direction, now, policy, exit_days)

    def identify(self, pass_number: str) -> FoundPass | None:
        """The roster's pass for this number, marked revoked when it is on the revocation
        list (checked on every scan)."""
        with self.store.db.read() as conn:
            return _identify(conn, pass_number)

    def present(self, text: str) -> Presented:
        """Identify whatever a scanner or camera read, or the volunteer typed.

        A signed QR pass is verified offline with the office keys this kiosk holds; a pass
        that verifies but is not on the local roster (issued after the last sync) is still
        known by what it says. When the roster has the pass, the roster's dates and
        revocation win (it is the command's newer word, e.g. a renewal). A plain pass number
        is looked up on the roster.
        """
        text = text.strip()
        if not looks_signed(text):
            number = text.upper()
            return Presented(number=number, found=self.identify(number))
        with self.store.db.read() as conn:
            keys = public_keys(conn)
        check = verify_pass(text, keys, date.today(), ())
        if check.fields is None or check.reason in SIGNATURE_FAILURES:
            number = check.fields.number if check.fields else ""
            return Presented(number=number, found=None, problem=Reason.FORGED)
        fields = check.fields
        found = self.identify(fields.number)
        if found is None:
            with self.store.db.read() as conn:
                revoked = is_revoked(conn, fields.number)
            found = FoundPass(
                gate_pass=Pass(fields.number, fields.kind, fields.valid_from, fields.valid_to,
                               revoked=revoked),
                pass_id=None,
                resident_id=None,
            )
        return Presented(number=fields.number, found=found, signed=True)

    def suggest_direction(self, found: FoundPass | None, pass_number: str = "") -> Direction:
        """The direction shown first: fixed at a one-way gate, else the opposite of the
        person's last movement here."""
        with self.store.db.read() as conn:
            return self._suggest(conn, self.settings, found, pass_number)

    @staticmethod
    def _suggest(conn: sqlite3.Connection, settings: Settings, found: FoundPass | None,
                 pass_number: str) -> Direction:
        fixed = DirectionMode(settings.checkpoint.direction_mode).fixed
        if fixed is not None:
            return fixed
        if found is None:
            return Direction.IN
        return default_direction(last_direction(conn, found.gate_pass.number or pass_number))

    def check(
        self,
        pass_number: str,
        readings: Sequence[Reading],
        *,
        direction: Direction | None = None,
        volunteer_id: int | None = None,
        identified_by: str = "cli",
        found: FoundPass | None = None,
        problem: Reason | None = None,
    ) -> GateResult:
        """Decide and durably record one passage. Returns after the commit.

        ``found``/``problem`` come from ``present`` when the pass was already identified."""
        try:
            return self._check(pass_number, readings, direction, volunteer_id, identified_by,
                               found, problem)
        except EventInvalid as exc:  # nothing was written: the transaction rolled back
            raise GateError.of(exc) from None

    def _check(self, pass_number: str, readings: Sequence[Reading], direction: Direction | None,
               volunteer_id: int | None, identified_by: str, found: FoundPass | None,
               problem: Reason | None) -> GateResult:
        pass_number = pass_number.strip().upper()
        settings, policy = self._rules  # one decision, one set of rules
        with self._writer.transaction() as conn:
            # read, decide and append in one write transaction: a second kiosk process on
            # the same file cannot spend the same household's last outing in between
            if found is None and problem is None:
                found = _identify(conn, pass_number)
            if direction is None:
                direction = self._suggest(conn, settings, found, pass_number)
            self._check_direction(settings, direction)
            clock = self._clock()
            now = datetime.fromtimestamp(clock.wall_s)
            # the command's rule set in force at this moment, read in this transaction
            policy = self._in_force(conn, settings, policy, clock)
            gate_pass = found.gate_pass if found else None
            household = gate_pass.household if gate_pass else None
            exit_days = _exit_days(conn, gate_pass, now, policy)
            decision = decide(gate_pass, direction, readings, now, policy, exit_days,
                              paper_problem=problem)
            movement = Movement(
                checkpoint=settings.checkpoint.id,
                direction=direction,
                decision=decision,
                readings=readings,
                policy=policy,
                identified_by=identified_by,
                pass_number=pass_number or None,
                pass_id=found.pass_id if found else None,
                pass_kind=gate_pass.kind.value if gate_pass else None,
                resident_id=found.resident_id if found else None,
                household=household,
                volunteer_id=volunteer_id,
            )
            event = self._writer.append(conn, settings.device.id, movement, clock,
                                        self._os_synced())
            last_exit = None
            if decision.reason is Reason.QUOTA_USED and household is not None:
                last_exit = household_last_exit(
                    conn, household, now.date() - timedelta(days=policy.quota_days))
        facts = explain(decision.reason, gate_pass, pass_number, now.date(), policy,
                        exit_days, last_exit)
        return GateResult(decision=decision, event=event, found=found, direction=direction,
                          detail=detail(decision.reason, facts))

    def undo(self, event_id: str, *, volunteer_id: int | None = None) -> GateResult:
        """Undo a movement recorded by mistake, within ``UNDO_WINDOW_S`` seconds of it: a
        correction event naming it (``corrects_event_id``; the record stays append-only),
        synced and exported like any event. The quota and the last direction skip the
        movement from then on, so an outing it spent is given back. Raises GateError when
        the event cannot be undone (too late, already undone, not an allowed movement)."""
        settings, policy = self._rules
        with self._writer.transaction() as conn:
            row = find_event(conn, event_id)
            if row is None or row["device_id"] != settings.device.id:
                raise GateError("no such movement at this kiosk")
            clock = self._clock()
            policy = self._in_force(conn, settings, policy, clock)
            age = (clock.monotonic_s - row["monotonic_s"]
                   if row["boot_id"] == clock.boot_id else None)
            refusal = undo_refusal(row["outcome"], row["corrects_event_id"],
                                   bool(row["undone"]), age)
            if refusal is not None:
                raise GateError(f"cannot undo: {refusal}")
            visitor = Visitor(row["visitor_name"], row["visitor_phone"] or "",
                              row["visitor_reason"] or "", row["host_building"] or "") \
                if row["visitor_name"] else None
            movement = Movement(
                checkpoint=row["checkpoint"],
                direction=Direction(row["direction"]),
                decision=UNDONE,
                readings=[],
                policy=policy,
                identified_by=IdentifiedBy.CORRECTION.value,
                pass_number=row["pass_number"],
                pass_id=row["pass_id"],
                pass_kind=row["pass_kind"],
                resident_id=row["resident_id"],
                household=row["household"],
                volunteer_id=volunteer_id,
                visitor=visitor,
                corrects_event_id=row["id"],
            )
            event = self._writer.append(conn, settings.device.id, movement, clock,
                                        self._os_synced())
        return GateResult(decision=UNDONE, event=event, found=None,
                          direction=Direction(row["direction"]))

    def acknowledge(self, event_id: str, called: str, *,
                    volunteer_id: int | None = None) -> GateResult:
        """The volunteer confirms the team leader was called about a confirmed fever: an
        acknowledgement event naming the fever (``corrects_event_id``; the fever's record
        is not touched), with who was called in ``note`` and the moment in ``wall_utc``,
        synced and exported like any event; the central store makes it the first step of
        the fever's case. Raises GateError when the event is not a fever of this kiosk or
        was already acknowledged."""
        settings, policy = self._rules
        with self._writer.transaction() as conn:
            row = find_event(conn, event_id)
            if row is None or row["device_id"] != settings.device.id:
                raise GateError("no such fever at this kiosk")
            refusal = acknowledge_refusal(bool(row["escalated"]), bool(row["acknowledged"]))
            if refusal is not None:
                kind = AlreadyAcknowledged if row["acknowledged"] else GateError
                raise kind(f"cannot acknowledge: {refusal}")
            movement = Movement(
                checkpoint=row["checkpoint"],
                direction=Direction(row["direction"]),
                decision=LEADER_NOTIFIED,
                readings=[],
                policy=policy,
                identified_by=IdentifiedBy.ACKNOWLEDGEMENT.value,
                volunteer_id=volunteer_id,
                corrects_event_id=row["id"],
                note=called.strip(),
            )
            event = self._writer.append(conn, settings.device.id, movement, self._clock(),
                                        self._os_synced())
        return GateResult(decision=LEADER_NOTIFIED, event=event, found=None,
                          direction=Direction(row["direction"]))

    def register_visitor(
        self,
        visitor: Visitor,
        readings: Sequence[Reading],
        *,
        direction: Direction = Direction.IN,
        volunteer_id: int | None = None,
    ) -> GateResult:
        """Decide and durably record a visitor's or delivery's passage (no pass)."""
        if not visitor.name.strip():
            raise GateError("a visitor needs a name")
        settings, policy = self._rules
        self._check_direction(settings, direction)
        clock = self._clock()
        with self.store.db.read() as conn:
            policy = self._in_force(conn, settings, policy, clock)
        decision = decide_visitor(direction, readings, datetime.fromtimestamp(clock.wall_s),
                                  policy)
        movement = Movement(
            checkpoint=settings.checkpoint.id,
            direction=direction,
            decision=decision,
            readings=readings,
            policy=policy,
            identified_by="visitor",
            pass_kind=PassKind.VISITOR.value,
            volunteer_id=volunteer_id,
            visitor=visitor,
        )
        try:
            event = self._writer.record(settings.device.id, movement, clock, self._os_synced())
        except EventInvalid as exc:
            raise GateError.of(exc) from None
        return GateResult(decision=decision, event=event, found=None, direction=direction)

    @staticmethod
    def _check_direction(settings: Settings, direction: Direction) -> None:
        fixed = DirectionMode(settings.checkpoint.direction_mode).fixed
        if fixed is not None and direction is not fixed:
            raise GateError(f"this gate is one-way ({fixed}); it does not record '{direction}'")
