"""The one function that decides a movement at the gate.

Two findings make a decision, as a volunteer makes it: the papers (``check_papers``: the pass
exists, is not revoked, is in its dates, is the right kind for this gate and hour, and the
household has an outing left) and the temperature (``screen_temperature``), taken from
everyone, papers in order or not. Papers that are not in order mean no passage, without
exception; a confirmed fever is found and escalated whatever the papers say, so a refused
person with a fever is never recorded only as "pass expired".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from kiosk.core.messages import Message, Reason, message
from kiosk.core.model import Direction, Pass, PassKind
from kiosk.core.policy import Policy
from kiosk.core.screening import Reading, ReadingState


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    #: not allowed yet: take another reading and decide again with both readings
    REMEASURE = "remeasure"
    #: a correction event: the movement it names did not happen (``corrects_event_id``)
    UNDO = "undo"
    #: the gate's acknowledgement of a confirmed fever (the fever event in
    #: ``corrects_event_id``, who was called in ``note``): no movement, counted nowhere
    NOTIFIED = "notified"


@dataclass(frozen=True, slots=True)
class Decision:
    """``reason`` is the main finding (the papers' when they are not in order; recorded in the
    event's ``reason``); ``findings`` are all of them, main first, e.g. (EXPIRED, FEVER)."""

    outcome: Outcome
    reason: Reason
    #: the allowed exit uses one of the household's outings
    counts_against_quota: bool = False
    #: confirmed fever: the app escalates (team leader) and the record says so
    escalate: bool = False
    findings: tuple[Reason, ...] = ()

    def __post_init__(self) -> None:
        if not self.findings:
            object.__setattr__(self, "findings", (self.reason,))

    @property
    def fever(self) -> bool:
        """A confirmed fever is among the findings (whatever the main reason)."""
        return Reason.FEVER in self.findings

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def message(self) -> Message:
        return message(self.reason)


def _deny(reason: Reason) -> Decision:
    return Decision(Outcome.DENY, reason)


def outings_in_window(exit_days: Sequence[date], today: date, policy: Policy) -> int:
    """Count past allowed exits that fall in the quota window: today and the
    ``quota_days - 1`` calendar days before it."""
    first_day = today - timedelta(days=max(policy.quota_days, 1) - 1)
    return sum(1 for d in exit_days if first_day <= d <= today)


#: seconds after a movement during which the volunteer may undo it at the gate
UNDO_WINDOW_S = 60.0

#: the decision a correction event records
UNDONE = Decision(Outcome.UNDO, Reason.UNDONE)
#: the decision an acknowledgement event records (the team leader was called)
LEADER_NOTIFIED = Decision(Outcome.NOTIFIED, Reason.LEADER_NOTIFIED)


def acknowledge_refusal(escalated: bool, acknowledged: bool) -> str | None:
    """Why a recorded event cannot be acknowledged at the gate, or None when it can: only a
    confirmed fever, and only once (the record is append-only: a second one would say the
    leader was called twice)."""
    if not escalated:
        return "not a confirmed fever"
    if acknowledged:
        return "already acknowledged"
    return None


def counted_exit_days(exits: Iterable[tuple[date, bool]]) -> list[date]:
    """The days of the household's quota-counted exits, from (day, undone) pairs: an exit
    undone by a correction event spends no outing."""
    return [day for day, undone in exits if not undone]


def undo_refusal(outcome: str, corrects: str | None, undone: bool,
                 age_s: float | None) -> str | None:
    """Why a recorded event cannot be undone at the gate, or None when it can: only an
    allowed movement, not already undone, not itself a correction, at most
    ``UNDO_WINDOW_S`` seconds old on this boot's monotonic clock (``age_s`` None: another
    boot, the age is unknown)."""
    if outcome != Outcome.ALLOW.value or corrects is not None:
        return "not a movement"
    if undone:
        return "already undone"
    if age_s is None or not 0 <= age_s <= UNDO_WINDOW_S:
        return "too late"
    return None


def screen_temperature(readings: Sequence[Reading], policy: Policy) -> Decision | None:
    """Judge the readings taken for this passage, in the order taken.

    A reading at or above the threshold asks for a re-measure; the re-measure decides.
    Invalid readings (no target, LO, HI, sensor error) never pass: measure again.
    Returns None when the temperature lets the person through.
    """
    valid = [r for r in readings if r.state is ReadingState.VALID and r.used_c is not None]
    if not readings or readings[-1].state is not ReadingState.VALID or not valid:
        return Decision(Outcome.REMEASURE, Reason.READING_INVALID)
    last = readings[-1]
    assert last.used_c is not None
    if last.used_c >= policy.fever_threshold_c:
        # fever only counts as confirmed after a second valid high reading
        if len(valid) >= 2 and valid[-2].used_c is not None and (
            valid[-2].used_c >= policy.fever_threshold_c
        ):
            return Decision(Outcome.DENY, Reason.FEVER, escalate=True)
        return Decision(Outcome.REMEASURE, Reason.FEVER_REMEASURE)
    return None


def check_papers(
    gate_pass: Pass | None,
    direction: Direction,
    now: datetime,
    policy: Policy,
    household_exit_days: Sequence[date] = (),
) -> Reason | None:
    """What is wrong with the papers for this movement, or None when they are in order.

    The first problem a volunteer would see wins: no pass, revoked, dates, kind and hour
    for this gate, then the household's outing quota (exits only).
    """
    if gate_pass is None:
        return Reason.UNKNOWN_PASS
    if gate_pass.revoked:
        return Reason.REVOKED
    today = now.date()
    if today < gate_pass.valid_from:
        return Reason.NOT_YET_VALID
    if today > gate_pass.valid_to:
        return Reason.EXPIRED
    problem = _kind_and_hour(gate_pass.kind, direction, now, policy)
    if problem is not None:
        return problem
    if _counts(gate_pass.kind, direction, policy) and (
        outings_in_window(household_exit_days, today, policy) >= policy.quota_outings
    ):
        return Reason.QUOTA_USED
    return None


def _kind_and_hour(kind: PassKind, direction: Direction, now: datetime,
                   policy: Policy) -> Reason | None:
    if kind not in policy.allowed_kinds.get(direction, frozenset()):
        return Reason.WRONG_KIND
    window = policy.hours.get(kind)
    if window is not None and not window.contains(now.time()):
        return Reason.WRONG_HOUR
    return None


def _counts(kind: PassKind, direction: Direction, policy: Policy) -> bool:
    return direction is Direction.OUT and policy.quota_applies(kind)


def _combine(papers: Reason | None, readings: Sequence[Reading], policy: Policy,
             counts: bool) -> Decision:
    """The papers' finding and the temperature's, as one decision.

    Papers in order: the temperature decides. Papers not in order: no passage, and the
    readings taken are still screened: a confirmed fever is escalated next to the papers'
    reason, a first high reading asks for the re-measure that can confirm it. With no
    reading at all (nothing to screen), the papers alone decide.
    """
    temperature = screen_temperature(readings, policy)
    if papers is None:
        if temperature is not None:
            return temperature
        return Decision(Outcome.ALLOW, Reason.OK, counts_against_quota=counts)
    if temperature is not None and temperature.fever:
        return Decision(Outcome.DENY, papers, escalate=True, findings=(papers, Reason.FEVER))
    if temperature is not None and temperature.reason is Reason.FEVER_REMEASURE:
        return Decision(Outcome.REMEASURE, Reason.FEVER_REMEASURE,
                        findings=(Reason.FEVER_REMEASURE, papers))
    return _deny(papers)


def decide(
    gate_pass: Pass | None,
    direction: Direction,
    readings: Sequence[Reading],
    now: datetime,
    policy: Policy,
    household_exit_days: Sequence[date] = (),
    *,
    paper_problem: Reason | None = None,
) -> Decision:
    """Decide one movement.

    ``gate_pass`` is the identified pass (None when the number or QR matched nothing);
    ``readings`` are this passage's temperature readings in the order taken;
    ``now`` is local wall-clock time; ``household_exit_days`` are the days of the holder's
    household's earlier allowed exits that counted against the quota; ``paper_problem`` is
    a problem found with the paper itself before any rule (a forged QR).
    """
    papers = paper_problem or check_papers(gate_pass, direction, now, policy,
                                           household_exit_days)
    counts = gate_pass is not None and _counts(gate_pass.kind, direction, policy)
    return _combine(papers, readings, policy, counts)


def decide_visitor(
    direction: Direction, readings: Sequence[Reading], now: datetime, policy: Policy
) -> Decision:
    """A registered visitor or delivery: no pass, but the gate must admit visitors at this
    hour, and the same temperature rules apply."""
    papers = _kind_and_hour(PassKind.VISITOR, direction, now, policy)
    return _combine(papers, readings, policy, counts=False)


def next_outing_day(exit_days: Sequence[date], today: date, policy: Policy) -> date:
    """The first day, from today on, whose quota window still has an outing left."""
    day = today
    for _ in range(max(policy.quota_days, 1)):
        if outings_in_window(exit_days, day, policy) < policy.quota_outings:
            return day
        day += timedelta(days=1)
    return day  # every counted exit has left the window by now


def explain(
    reason: Reason,
    gate_pass: Pass | None,
    number: str,
    today: date,
    policy: Policy,
    household_exit_days: Sequence[date] = (),
    last_exit: datetime | None = None,
) -> dict[str, str]:
    """The facts a refusal is shown with (``kiosk.core.messages.DETAILS``): the number
    scanned or typed, the pass's dates, when the household last went out and when it may
    next. Empty when the reason has no facts to show."""
    if reason is Reason.UNKNOWN_PASS:
        return {"number": number or "-"}
    if reason in (Reason.EXPIRED, Reason.NOT_YET_VALID) and gate_pass is not None:
        return {"valid_from": gate_pass.valid_from.isoformat(),
                "valid_to": gate_pass.valid_to.isoformat()}
    if reason is Reason.QUOTA_USED:
        return {"last_out": last_exit.strftime("%m-%d %H:%M") if last_exit else "-",
                "next_day": next_outing_day(household_exit_days, today, policy).strftime(
                    "%m-%d")}
    return {}


def default_direction(last_direction: Direction | None) -> Direction:
    """Whoever last went out is most likely coming back in; everyone else is going out."""
    return Direction.IN if last_direction is Direction.OUT else Direction.OUT
