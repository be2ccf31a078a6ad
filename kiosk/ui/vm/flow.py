"""The gate flow: identify a person, take the temperature, decide and record, show the result.

A state machine only: the rules are the core's (``kiosk.core.decision``), identification,
search and recording are ``Gate``'s. The temperature is taken from everyone, papers in order
or not, so a fever is found even in a person the papers turn away.

One person at a time. Every input (scan, camera, search pick, thermometer reading, typed
temperature, taps) is accepted only in the phase where it makes sense, so a doubled tap or a
second scan of the same card can never record a second movement: the record is submitted
once, on the switch to RECORDING, and everything else waits for the answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from typing import Any

from drivers.reader import ReaderState
from kiosk.core.decision import UNDO_WINDOW_S, Outcome
from kiosk.core.event import PASS_NUMBER_MAX
from kiosk.core.messages import Message, Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.passcode import looks_signed
from kiosk.core.privacy import mask_name
from kiosk.core.screening import (
    Reading,
    ReadingSource,
    ReadingState,
    is_fresh,
    make_reading,
)
from kiosk.gate import (
    SEARCH_LIMIT,
    AlreadyAcknowledged,
    Gate,
    GateError,
    GateResult,
    Presented,
)
from kiosk.store.db import StoreReplaced, recording_stop
from kiosk.store.events import Visitor
from kiosk.ui.vm.base import Debouncer, Observable, Runner
from kiosk.ui.vm.visitor import shown_name

#: seconds between a high first reading and the re-measure (the forehead cools down)
REMEASURE_WAIT_S = 5.0
#: seconds a result stays on screen by itself (None: until tapped)
AUTO_CLOSE_ALLOW_S = 3.0
AUTO_CLOSE_DENY_S = 6.0
#: a typed temperature outside this range is a typo, not a reading (°C)
MANUAL_RANGE_C = (30.0, 45.0)
#: a scanner payload longer than this, or with control characters, is garbage
MAX_PAYLOAD = 300
#: what a plain pass number can look like (R0001, W000050, BY3-1202-01)
PASS_NUMBER = re.compile(rf"[0-9A-Za-z][0-9A-Za-z-]{{0,{PASS_NUMBER_MAX - 1}}}")


class Phase(StrEnum):
    IDLE = "idle"  # waiting for a pass, a search or a visitor
    LOOKING_UP = "looking_up"  # the pass is being identified (worker)
    MEASURING = "measuring"  # identified: waiting for a reading from the device or typed
    COUNTDOWN = "countdown"  # fever: wait, then measure again
    RECORDING = "recording"  # the decision is being recorded (worker)
    RESULT = "result"  # the green/red screen


@dataclass(frozen=True, slots=True)
class Person:
    """Who stands at the gate, as the screen may show them (name masked)."""

    number: str
    name_masked: str
    place: str
    kind: str | None
    identified_by: str
    presented: Presented | None = None
    visitor: Visitor | None = None


@dataclass(frozen=True, slots=True)
class ResultView:
    outcome: Outcome
    #: the main finding (the papers' when they are not in order)
    reason: Reason
    escalate: bool
    #: every finding, main first: (EXPIRED, FEVER) is a refused pass and a confirmed fever
    findings: tuple[Reason, ...]
    person: Person
    direction: Direction
    temperature_c: float | None
    event_id: str
    auto_close_s: float | None
    #: the facts behind a refusal, zh and en (the number, the dates, the next outing)
    detail: Message | None = None
    #: every valid reading taken, in order (°C): a fever shows the first and the re-measure
    readings_c: tuple[float, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW


@dataclass(frozen=True, slots=True)
class UndoOffer:
    """The last allowed movement, which the volunteer may undo until ``at`` +
    ``UNDO_WINDOW_S`` (the flow's monotonic clock)."""

    event_id: str
    at: float
    person: Person
    direction: Direction


@dataclass(frozen=True, slots=True)
class SearchHit:
    number: str
    name_masked: str
    place: str
    kind: str | None
    usable: bool
    household: str = ""
    #: the query named this person precisely (a unique exact hit needs no pick)
    exact: bool = False

    @property
    def tail(self) -> str:
        """The end of the pass number: tells 方* from 方* in the same room at a glance."""
        return self.number[-4:]


def place_of(building: str, unit: str, room: str) -> str:
    return "-".join(p for p in (building, unit, room) if p)


def person_from(presented: Presented, identified_by: str) -> Person:
    found = presented.found
    holder = found.gate_pass.holder if found else None
    return Person(
        number=presented.number,
        name_masked=mask_name(holder.name) if holder else "",
        place=place_of(holder.building, holder.unit, holder.room) if holder else "",
        kind=found.gate_pass.kind.value if found else None,
        identified_by=identified_by,
        presented=presented,
    )


def parse_manual(text: str) -> float | None:
    """What a volunteer typed on the keypad: "36.5", or "365" (the dot saved for gloves)."""
    text = text.strip()
    if "." not in text and len(text) == 3 and text.isdigit():
        text = text[:2] + "." + text[2:]
    try:
        value = float(text)
    except ValueError:
        return None
    low, high = MANUAL_RANGE_C
    return value if low <= value <= high else None


def clean_payload(text: str) -> str | None:
    """The payload if it can be a pass: a signed QR text or a plain pass number. Anything
    else (a misread, a scanner set to the wrong mode) is garbage: a message, no record."""
    text = text.strip()
    if not text or len(text) > MAX_PAYLOAD or any(ord(c) < 32 for c in text):
        return None
    if not looks_signed(text) and not PASS_NUMBER.fullmatch(text):
        return None
    return text


class GateFlow(Observable):
    """The gate screen's state. ``runner`` runs store work off the UI thread."""

    def __init__(
        self,
        gate: Gate,
        runner: Runner,
        *,
        volunteer_id: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        remeasure_wait_s: float = REMEASURE_WAIT_S,
    ) -> None:
        super().__init__()
        self.gate = gate
        self.runner = runner
        self.volunteer_id = volunteer_id
        self.clock = clock
        self.remeasure_wait_s = remeasure_wait_s
        self.debounce = Debouncer(clock=clock)
        #: the volunteer's tap on IN/OUT, for the next person (None: use the suggestion)
        self.chosen: Direction | None = None
        #: the current person's direction (in IDLE: the one chosen for the next person)
        self.direction: Direction | None = gate.direction_mode.fixed
        self.phase = Phase.IDLE
        self.person: Person | None = None
        #: what is wrong with the current person's papers (None: in order); they are
        #: measured all the same, and refused after
        self.papers: Reason | None = None
        self.readings: list[Reading] = []
        self.result: ResultView | None = None
        self.message: tuple[str, dict[str, Any]] | None = None
        #: set when recording must stop (kiosk.store.db.RecordingStopped: the database files
        #: were removed or replaced): the gate screen stays red, "use the paper register"
        self.stopped: str | None = None
        self.thermometer_state = ReaderState.STOPPED
        self.manual_forced = False
        self.manual_text = ""
        self.last_reading: Reading | None = None
        self.search_query = ""
        self.search_hits: list[SearchHit] = []
        self.countdown_left = 0
        self.result_listeners: list[Callable[[ResultView], None]] = []
        #: called once a fever's acknowledgement is recorded (the status bar's fever line)
        self.acknowledged_listeners: list[Callable[[], None]] = []
        self._measure_from = 0.0
        self._countdown_end = 0.0
        self._close_at: float | None = None
        self._undo: UndoOffer | None = None
        #: the acknowledgement of the fever on screen is being recorded (worker)
        self.acknowledging = False

    # -- what the screen shows -----------------------------------------------------------

    @property
    def fixed_direction(self) -> Direction | None:
        """A one-way gate's direction (from the settings in use), else None."""
        return self.gate.direction_mode.fixed

    @property
    def thermometer_ok(self) -> bool:
        return self.thermometer_state is ReaderState.CONNECTED

    @property
    def manual_mode(self) -> bool:
        return self.manual_forced or not self.thermometer_ok

    @property
    def can_undo(self) -> bool:
        """The last allowed movement may still be undone (within ``UNDO_WINDOW_S``)."""
        offer = self._undo
        return offer is not None and self.clock() - offer.at <= UNDO_WINDOW_S

    @property
    def awaiting_ack(self) -> bool:
        """A confirmed fever is on screen: nothing else until the volunteer confirms the
        team leader was called (a scan must not sweep it away)."""
        return self.phase is Phase.RESULT and self.result is not None and self.result.escalate

    @property
    def busy(self) -> bool:
        return self.phase in (Phase.LOOKING_UP, Phase.RECORDING, Phase.COUNTDOWN)

    def _say(self, key: str | None, **fields: Any) -> None:
        self.message = (key, fields) if key else None

    # -- direction -----------------------------------------------------------------------

    def set_direction(self, direction: Direction) -> None:
        """The volunteer's choice: it wins over the suggested direction for the next person
        (or the person being measured), whatever their history. Idempotent (two taps on OUT
        are OUT); refused at a one-way gate and once the person's temperature is part of a
        recorded passage."""
        fixed = self.fixed_direction
        if fixed is not None:
            if direction is not fixed:
                self._say("one_way", mode=fixed.value.upper())
                self.notify()
            return
        if self.phase not in (Phase.IDLE, Phase.MEASURING) or self.readings:
            return
        self.chosen = self.direction = direction
        self.notify()
        person = self.person
        if self.phase is Phase.MEASURING and person is not None and person.presented:
            presented = person.presented  # the papers may be in order one way, not the other

            def papers_now(papers: Reason | None) -> None:
                if self.person is person:
                    self.papers = papers
                    self.notify()

            self.runner.submit(lambda: self.gate.papers(presented, direction), papers_now,
                               self._record_failed_quietly)

    # -- identification ------------------------------------------------------------------

    def present(self, text: str, identified_by: str) -> None:
        """A scan, a camera read or a picked search hit."""
        if self.stopped is not None:
            self._say(self.stopped)
            self.notify()
            return
        payload = clean_payload(text)
        if payload is None:
            self._say("scan_garbage")
            self.notify()
            return
        if self.awaiting_ack:
            self._say("fever_ack_first")
            self.notify()
            return
        if self.phase is Phase.RESULT:
            self.dismiss()
        if self.phase is Phase.MEASURING:
            same = self.person is not None and self.person.number.upper() == payload.upper()
            if same or self.readings:
                return  # the same card again, or a re-measure in progress
            self._refuse_unmeasured()  # the next person: the one before leaves no gap
        elif self.phase is not Phase.IDLE:
            self._say("busy")
            self.notify()
            return
        self.phase = Phase.LOOKING_UP
        self._say("looking_up")
        self.notify()
        chosen = self.fixed_direction or self.chosen

        def work() -> tuple[Presented, Direction, Reason | None]:
            presented = self.gate.present(payload)
            direction = chosen or self.gate.suggest_direction(presented.found,
                                                              presented.number)
            return presented, direction, self.gate.papers(presented, direction)

        self.runner.submit(work, lambda r: self._identified(r[0], r[1], r[2], identified_by),
                           self._lookup_failed)

    def _lookup_failed(self, exc: BaseException) -> None:
        self.phase = Phase.IDLE
        self._say("record_failed", error=str(exc))
        self.notify()

    def _identified(self, presented: Presented, direction: Direction, papers: Reason | None,
                    identified_by: str) -> None:
        self.person = person_from(presented, identified_by)
        self.readings = []
        self.search_hits = []
        self.search_query = ""
        self.direction = direction
        # papers not in order: no passage, but the temperature is taken all the same (a
        # person turned away can be a fever case); the refusal is shown after it
        self.papers = papers
        self._start_measuring()

    def _refuse_unmeasured(self) -> None:
        """The person being measured walked away (cancel, or the next card was scanned):
        papers not in order are still recorded as refused, with no temperature, as the
        volunteer saw them; papers in order leave no record (nothing happened)."""
        person, papers = self.person, self.papers
        if person is None or papers is None or person.presented is None or self.readings:
            return
        presented, direction, volunteer = person.presented, self.direction, self.volunteer_id
        assert direction is not None

        def work() -> GateResult | None:
            if self.gate.papers(presented, direction) is None:
                return None  # in order after all (the rules changed meanwhile)
            return self.gate.check(presented.number, [], direction=direction,
                                   volunteer_id=volunteer, identified_by=person.identified_by,
                                   found=presented.found, problem=presented.problem)

        self.runner.submit(work, lambda _result: None, self._record_failed_quietly)

    def _record_failed_quietly(self, exc: BaseException) -> None:
        self._say("record_failed", error=str(exc))
        self.notify()

    def start_visitor(self, visitor: Visitor, direction: Direction) -> bool:
        """From the visitor form: the same temperature step as a pass holder."""
        if self.awaiting_ack:
            self._say("fever_ack_first")
            self.notify()
            return False
        if self.phase is Phase.RESULT:
            self.dismiss()
        if self.phase is not Phase.IDLE:
            self._say("busy")
            self.notify()
            return False
        self.direction = self.fixed_direction or direction
        self.person = Person(number="", name_masked=shown_name(visitor.name),
                             place=visitor.host_building, kind=PassKind.VISITOR.value,
                             identified_by="visitor", visitor=visitor)
        self.papers = None
        self.readings = []
        self._start_measuring()
        return True

    def _start_measuring(self) -> None:
        self.phase = Phase.MEASURING
        self._measure_from = self.clock()
        self.manual_text = ""
        self._say("thermo_down_manual" if self.manual_mode else None)
        self.notify()

    # -- search --------------------------------------------------------------------------

    def search_key(self, key: str) -> None:
        if not self.debounce.accept(f"search:{key}"):
            return
        if key == "←":
            self.search_query = self.search_query[:-1]
        elif key == "C":
            self.search_query, self.search_hits = "", []
        elif len(self.search_query) < 24:
            self.search_query += key
        self.notify()

    def set_search_text(self, text: str) -> None:
        self.search_query = text[:24]

    def search(self) -> None:
        query = self.search_query.strip()
        if not query or self.phase is not Phase.IDLE:
            return
        volunteer = self.volunteer_id

        def work() -> list[SearchHit]:
            return [SearchHit(number=h.number, name_masked=mask_name(h.name),
                              place=place_of(h.building, h.unit, h.room), kind=h.kind,
                              usable=h.usable, household=h.household, exact=h.exact)
                    for h in self.gate.search(query, volunteer_id=volunteer)]

        def done(hits: list[SearchHit]) -> None:
            if len(hits) == 1 and hits[0].exact and self.phase is Phase.IDLE:
                # one person named precisely: straight to them, no pick
                self.search_query, self.search_hits = "", []
                self.present(hits[0].number, "search")
                return
            self.search_hits = hits
            if len(hits) >= SEARCH_LIMIT:  # the list is cut: say so, and how to narrow it
                self._say("too_many", n=SEARCH_LIMIT)
            else:
                self._say(None if hits else "no_match", query=query)
            self.notify()

        self.runner.submit(work, done, self._lookup_failed)

    def choose(self, number: str) -> None:
        if self.debounce.accept("choose", 0.5):
            self.present(number, "search")

    # -- temperature ---------------------------------------------------------------------

    def set_thermometer_state(self, state: ReaderState) -> None:
        was_manual = self.manual_mode
        self.thermometer_state = state
        if self.phase is Phase.MEASURING and self.manual_mode and not was_manual:
            self._say("thermo_down_manual")
        self.notify()

    def on_reading(self, reading: Reading) -> None:
        """A reading from the thermometer thread (already on the UI thread)."""
        self.last_reading = reading
        if self.phase is not Phase.MEASURING or self.manual_forced:
            return
        now = self.clock()
        if not is_fresh(reading, identified_monotonic=self._measure_from, now_monotonic=now,
                        max_age_s=self.gate.policy.reading_max_age_s):
            return
        if reading.state is not ReadingState.VALID:
            if not self.manual_mode:  # a thermometer judged down keeps "type the reading"
                self._say("reading_bad", state=reading.state.value.upper())
                self.notify()
            return
        self._record([*self.readings, reading])

    def force_manual(self) -> None:
        if self.phase is Phase.MEASURING:
            self.manual_forced = True
            self._say(None)
            self.notify()

    def manual_key(self, key: str) -> None:
        if self.phase is not Phase.MEASURING or not self.debounce.accept(f"manual:{key}"):
            return
        if key == "←":
            self.manual_text = self.manual_text[:-1]
        elif key == "C":
            self.manual_text = ""
        elif len(self.manual_text) < 5 and (key.isdigit() or (key == "." and
                                                              "." not in self.manual_text)):
            self.manual_text += key
        self.notify()

    def manual_confirm(self) -> None:
        """OK on the temperature keypad; the phase check makes a double tap harmless."""
        if self.phase is not Phase.MEASURING or not self.debounce.accept("confirm", 0.5):
            return
        value = parse_manual(self.manual_text)
        if value is None:
            self._say("temp_format")
            self.manual_text = ""
            self.notify()
            return
        reading = make_reading(value, offset_c=self.gate.policy.forehead_offset_c,
                               source=ReadingSource.MANUAL, taken_monotonic=self.clock())
        self.manual_text = ""
        self._record([*self.readings, reading])

    # -- recording -----------------------------------------------------------------------

    def _record(self, readings: Sequence[Reading]) -> None:
        person = self.person
        assert person is not None
        self.phase = Phase.RECORDING
        self._say("recording")
        self.notify()
        direction, volunteer = self.direction, self.volunteer_id
        assert direction is not None
        readings = list(readings)

        def work() -> GateResult:
            if person.visitor is not None:
                return self.gate.register_visitor(person.visitor, readings, direction=direction,
                                                  volunteer_id=volunteer)
            presented = person.presented
            assert presented is not None
            return self.gate.check(presented.number, readings, direction=direction,
                                   volunteer_id=volunteer, identified_by=person.identified_by,
                                   found=presented.found, problem=presented.problem)

        self.runner.submit(work, lambda r: self._recorded(r, readings), self._record_failed)

    def _record_failed(self, exc: BaseException) -> None:
        self.phase = Phase.MEASURING
        stop = recording_stop(exc)  # a full disk, database files removed: never a green
        if stop is not None:
            if isinstance(stop, StoreReplaced):
                self.stopped = stop.key
            self._say(stop.key)
        elif isinstance(exc, GateError) and exc.refusal is not None:
            self._say("event_refused", zh=exc.refusal.zh, en=exc.refusal.en)
        elif isinstance(exc, GateError):
            self._say("one_way", mode=self.gate.direction_mode.value.upper())
        else:
            self._say("record_failed", error=str(exc))
        self.notify()

    def _recorded(self, result: GateResult, readings: list[Reading]) -> None:
        d = result.decision
        assert self.person is not None
        if d.outcome is Outcome.REMEASURE:
            self.readings = readings
            if d.reason is Reason.FEVER_REMEASURE:
                self.phase = Phase.COUNTDOWN
                self._countdown_end = self.clock() + self.remeasure_wait_s
                self.countdown_left = int(self.remeasure_wait_s + 0.999)
                self._say("remeasure_in", seconds=self.countdown_left)
                self.notify()
            else:
                self._start_measuring()
                self._say("reading_bad", state=readings[-1].state.value.upper()
                          if readings else "-")
                self.notify()
            return
        valid = [r.used_c for r in readings if r.used_c is not None]
        auto = None if d.escalate else (AUTO_CLOSE_ALLOW_S if d.allowed else AUTO_CLOSE_DENY_S)
        self.result = ResultView(outcome=d.outcome, reason=d.reason, escalate=d.escalate,
                                 findings=d.findings, person=self.person,
                                 direction=result.direction,
                                 temperature_c=valid[-1] if valid else None,
                                 event_id=result.event.id, auto_close_s=auto,
                                 detail=result.detail, readings_c=tuple(valid))
        self.phase = Phase.RESULT
        self._close_at = self.clock() + auto if auto is not None else None
        self._undo = UndoOffer(result.event.id, self.clock(), self.person,
                               result.direction) if d.allowed else None
        self.chosen = None  # the choice was for this person; the next one starts afresh
        self._say(None)
        self.notify()
        for listener in list(self.result_listeners):
            listener(self.result)

    # -- fever acknowledgement ---------------------------------------------------------

    def acknowledge(self, called: str) -> None:
        """已通知组长: the volunteer confirms ``called`` (the team leader, the phone) was
        called about the fever on screen. Recorded as an acknowledgement event naming the
        fever (who: the volunteer on duty, when: now); the screen closes once it is
        recorded, and stays (with the reason) when it cannot be."""
        r = self.result
        if not self.awaiting_ack or r is None or self.acknowledging:
            return
        self.acknowledging = True
        self._say("recording")
        self.notify()
        volunteer = self.volunteer_id

        def done(result: GateResult) -> None:
            self.acknowledging = False
            if self.result is r and self.phase is Phase.RESULT:
                self._reset()
            at = result.event.wall_utc.replace(tzinfo=UTC).astimezone()
            self._say("acknowledged", time=at.strftime("%H:%M"))
            self.notify()
            for listener in list(self.acknowledged_listeners):
                listener()

        def failed(exc: BaseException) -> None:
            self.acknowledging = False
            if isinstance(exc, AlreadyAcknowledged):
                if self.result is r and self.phase is Phase.RESULT:
                    self._reset()  # recorded before (a reply lost): nothing more to keep
                return
            self._record_failed_quietly(exc)

        self.runner.submit(lambda: self.gate.acknowledge(r.event_id, called,
                                                         volunteer_id=volunteer),
                           done, failed)

    # -- undo ----------------------------------------------------------------------------

    def undo(self) -> None:
        """撤销/Undo: the last allowed movement was recorded by mistake (a wrong direction, the
        wrong person picked). Recorded as a correction event; the outing it spent is given
        back. Offered for ``UNDO_WINDOW_S`` seconds after the movement."""
        if not self.debounce.accept("undo", 0.5):
            return
        offer = self._undo
        if offer is None or not self.can_undo:
            self._undo = None
            self._say("undo_too_late")
            self.notify()
            return
        if self.awaiting_ack:
            self._say("fever_ack_first")
            self.notify()
            return
        if self.phase is Phase.RESULT:
            self.dismiss()
        if self.phase is not Phase.IDLE:
            self._say("busy")
            self.notify()
            return
        self._undo = None
        self.notify()
        volunteer = self.volunteer_id

        def done(_result: GateResult) -> None:
            self._say("undone", name=offer.person.name_masked or offer.person.number or "-",
                      kind=offer.person.kind)
            self.notify()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, GateError):
                self._say("undo_too_late")
                self.notify()
            else:
                self._record_failed_quietly(exc)

        self.runner.submit(lambda: self.gate.undo(offer.event_id, volunteer_id=volunteer),
                           done, failed)

    # -- time and closing ----------------------------------------------------------------

    def tick(self) -> None:
        """Called a few times a second by the app's clock."""
        now = self.clock()
        if self.phase is Phase.COUNTDOWN:
            left = max(0, int(self._countdown_end - now + 0.999))
            if now >= self._countdown_end:
                self._start_measuring()
                if not self.manual_mode:
                    self._say("remeasure_now")
                self.notify()
            elif left != self.countdown_left:
                self.countdown_left = left
                self._say("remeasure_in", seconds=left)
                self.notify()
        elif self.phase is Phase.RESULT and self._close_at is not None and now >= self._close_at:
            self.dismiss()
        if self._undo is not None and not self.can_undo:
            self._undo = None  # the minute is over: the button goes
            self.notify()

    def dismiss(self) -> None:
        """Back to the gate from a result; a confirmed fever closes only by ``acknowledge``."""
        if self.phase is not Phase.RESULT or self.awaiting_ack:
            return
        self._reset()

    def cancel(self) -> None:
        """The person walked away (or the wrong card was scanned): no temperature is
        recorded; papers not in order are recorded as refused (``_refuse_unmeasured``)."""
        if self.phase in (Phase.MEASURING, Phase.COUNTDOWN):
            self._refuse_unmeasured()
            self._reset()

    def _reset(self) -> None:
        self.phase = Phase.IDLE
        self.person = None
        self.papers = None
        self.direction = self.fixed_direction or self.chosen
        self.readings = []
        self.manual_forced = False
        self.manual_text = ""
        self._close_at = None
        self._say(None)
        self.notify()
