"""Property tests: whatever arrives at the gate, the decision holds its promises."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.core.decision import Outcome, decide
from kiosk.core.messages import Reason
from kiosk.core.model import Direction, Pass, PassKind, Resident
from kiosk.core.policy import Policy
from kiosk.core.screening import ReadingSource, ReadingState, make_reading

temps = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=30.0, max_value=45.0),
    st.sampled_from([37.3, 37.29, 32.0, 42.9, 43.0]),
)
readings = st.lists(
    st.builds(make_reading, temps, offset_c=st.floats(-3, 3),
              source=st.sampled_from(list(ReadingSource))),
    max_size=4,
)
days = st.dates(min_value=date(2019, 1, 1), max_value=date(2022, 12, 31))
residents = st.builds(Resident, st.text(max_size=5), st.text(max_size=3), st.text(max_size=3),
                      st.text(max_size=4), st.text(max_size=6))
passes = st.one_of(
    st.none(),
    st.builds(Pass, st.text(max_size=8), st.sampled_from(list(PassKind)), days, days,
              st.booleans(), st.one_of(st.none(), residents)),
)
policies = st.builds(
    Policy,
    fever_threshold_c=st.floats(35.0, 40.0),
    forehead_offset_c=st.floats(-3.0, 3.0),
    quota_outings=st.integers(0, 5),
    quota_days=st.integers(1, 14),
)
moments = st.datetimes(min_value=datetime(2019, 6, 1), max_value=datetime(2022, 6, 1))


@settings(max_examples=400, deadline=None)
@given(passes, st.sampled_from(list(Direction)), readings, moments, policies,
       st.lists(days, max_size=6))
def test_no_input_crashes_and_the_promises_hold(gate_pass, direction, rs, now, policy, exits):
    d = decide(gate_pass, direction, rs, now, policy, exits)
    assert d.outcome in Outcome and d.reason in Reason
    if d.allowed:
        assert gate_pass is not None and not gate_pass.revoked
        assert gate_pass.valid_from <= now.date() <= gate_pass.valid_to
        # the last reading was a valid one below the threshold: never a fever, never a blank
        last = rs[-1]
        assert last.state is ReadingState.VALID
        assert last.used_c is not None and last.used_c < policy.fever_threshold_c
        # an allowed exit of a quota-bound pass always counts against the quota
        if direction is Direction.OUT and policy.quota_applies(gate_pass.kind):
            assert d.counts_against_quota
        else:
            assert not d.counts_against_quota
    else:
        assert not d.counts_against_quota


@settings(max_examples=200, deadline=None)
@given(passes, st.sampled_from(list(Direction)), moments, policies,
       st.floats(37.3, 42.9), st.floats(37.3, 42.9))
def test_a_confirmed_fever_is_never_allowed(gate_pass, direction, now, policy, t1, t2):
    off = policy.forehead_offset_c
    rs = [make_reading(t1 - off, offset_c=off), make_reading(t2 - off, offset_c=off)]
    d = decide(gate_pass, direction, rs, now, policy)
    if all(r.used_c is not None and r.used_c >= policy.fever_threshold_c for r in rs):
        assert not d.allowed


readings_before = st.lists(
    st.builds(make_reading, temps, source=st.sampled_from(list(ReadingSource))), max_size=3)
high_c = st.floats(37.3, 42.9)


@settings(max_examples=300, deadline=None)
@given(passes, st.sampled_from(list(Direction)), readings_before, high_c, high_c, moments,
       policies, st.lists(days, max_size=6),
       st.one_of(st.none(), st.sampled_from([Reason.FORGED])))
def test_no_input_with_a_confirmed_fever_loses_the_fever(
        gate_pass, direction, before, t1, t2, now, policy, exits, problem):
    """Whatever the papers (missing, forged, revoked, expired, wrong kind, quota used), two
    valid readings at or above the threshold, the last reading last, are a fever finding."""
    def high(t: float) -> float:  # at or above the threshold once rounded to 0.01 °C
        return min(42.9, math.ceil(max(t, policy.fever_threshold_c) * 100 + 1) / 100)

    rs = [*before, make_reading(high(t1)), make_reading(high(t2))]
    d = decide(gate_pass, direction, rs, now, policy, exits, paper_problem=problem)
    assert d.fever and d.escalate and d.outcome is Outcome.DENY
    assert Reason.FEVER in d.findings and d.findings[0] is d.reason
    if problem is not None:
        assert d.reason is problem


@settings(max_examples=200, deadline=None)
@given(st.builds(Pass, st.text(max_size=8), st.sampled_from(list(PassKind)), days, days,
                 st.just(True)), st.sampled_from(list(Direction)), readings, moments, policies)
def test_a_revoked_pass_is_never_allowed(gate_pass, direction, rs, now, policy):
    d = decide(gate_pass, direction, rs, now, policy)
    assert not d.allowed and Reason.REVOKED in d.findings
    # refused; only a first high reading asks for the re-measure that confirms a fever
    assert d.outcome is Outcome.DENY or d.reason is Reason.FEVER_REMEASURE


@settings(max_examples=200, deadline=None)
@given(moments, policies, st.integers(0, 10))
def test_the_quota_never_allows_more_outings_than_policy(now, policy, n_before):
    holder = Resident("王五", "3", "2", "101", "3-2-101")
    p = Pass("R1", PassKind.RESIDENT, now.date() - timedelta(days=30),
             now.date() + timedelta(days=30), holder=holder)
    exits = [now.date()] * n_before
    below = policy.fever_threshold_c - 0.5  # a normal temperature under any threshold
    reading = make_reading(below - policy.forehead_offset_c, offset_c=policy.forehead_offset_c)
    d = decide(p, Direction.OUT, [reading], now, policy, exits)
    if policy.quota_outings > 0 and n_before >= policy.quota_outings:
        assert d.reason is Reason.QUOTA_USED
    else:
        assert d.allowed
