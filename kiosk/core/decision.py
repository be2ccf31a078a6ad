"""The one function that decides a movement at the gate.

Order of checks mirrors what a volunteer does: look at the paper first (exists, not revoked,
in its dates, right kind for this gate and hour), then the quota for an outing, then the
thermometer. Papers that are not in order mean no passage, without exception.
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: Reason
    #: the allowed exit uses one of the household's outings
    counts_against_quota: bool = False
    #: confirmed fever: the app escalates (team leader) and the record says so
    escalate: bool = False

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


def decide(
    gate_pass: Pass | None,
    direction: Direction,
    readings: Sequence[Reading],
    now: datetime,
    policy: Policy,
    household_exit_days: Sequence[date] = (),
) -> Decision:
    """Decide one movement.

    ``gate_pass`` is the identified pass (None when the number or QR matched nothing);
    ``readings`` are this passage's temperature readings in the order taken;
    ``now`` is local wall-clock time; ``household_exit_days`` are the days of the holder's
    household's earlier allowed exits that counted against the quota.
    """
    if gate_pass is None:
        return _deny(Reason.UNKNOWN_PASS)
    if gate_pass.revoked:
        return _deny(Reason.REVOKED)
    today = now.date()
    if today < gate_pass.valid_from:
        return _deny(Reason.NOT_YET_VALID)
    if today > gate_pass.valid_to:
        return _deny(Reason.EXPIRED)
    if gate_pass.kind not in policy.allowed_kinds.get(direction, frozenset()):
        return _deny(Reason.WRONG_KIND)
    window = policy.hours.get(gate_pass.kind)
    if window is not None and not window.contains(now.time()):
        return _deny(Reason.WRONG_HOUR)
    counts = direction is Direction.OUT and policy.quota_applies(gate_pass.kind)
    if counts and outings_in_window(household_exit_days, today, policy) >= policy.quota_outings:
        return _deny(Reason.QUOTA_USED)
    temperature = screen_temperature(readings, policy)
    if temperature is not None:
        return temperature
    return Decision(Outcome.ALLOW, Reason.OK, counts_against_quota=counts)


def decide_visitor(
    direction: Direction, readings: Sequence[Reading], now: datetime, policy: Policy
) -> Decision:
    """A registered visitor or delivery: no pass, but the gate must admit visitors at this
    hour, and the same temperature rules apply."""
    if PassKind.VISITOR not in policy.allowed_kinds.get(direction, frozenset()):
        return _deny(Reason.WRONG_KIND)
    window = policy.hours.get(PassKind.VISITOR)
    if window is not None and not window.contains(now.time()):
        return _deny(Reason.WRONG_HOUR)
    temperature = screen_temperature(readings, policy)
    return temperature if temperature is not None else Decision(Outcome.ALLOW, Reason.OK)


def default_direction(last_direction: Direction | None) -> Direction:
    """Whoever last went out is most likely coming back in; everyone else is going out."""
    return Direction.IN if last_direction is Direction.OUT else Direction.OUT
