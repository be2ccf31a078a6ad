"""The gate decision as a volunteer experiences it: which papers pass, which stop, and why."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from kiosk.core.decision import Outcome, check_papers, decide, decide_visitor, default_direction
from kiosk.core.messages import MESSAGES, Reason
from kiosk.core.model import Direction, Pass, PassKind, Resident
from kiosk.core.policy import HourWindow, Policy
from kiosk.core.screening import ReadingSource, ReadingState, is_fresh, make_reading

NOW = datetime(2020, 2, 15, 9, 30)
TODAY = NOW.date()
HOLDER = Resident("张三明", "3", "1", "402", "3-1-402", "13800000000")
POLICY = Policy()


def a_pass(kind: PassKind = PassKind.RESIDENT, **kw: object) -> Pass:
    base: dict[str, object] = dict(number="R0001", kind=kind, valid_from=TODAY - timedelta(days=5),
                                   valid_to=TODAY + timedelta(days=5), holder=HOLDER)
    base.update(kw)
    return Pass(**base)  # type: ignore[arg-type]


def temp(c: float | None, offset: float = 0.0):  # noqa: ANN201
    return make_reading(c, offset_c=offset)


NORMAL = [temp(36.5)]


def test_a_resident_with_a_normal_temperature_goes_out_and_it_counts_against_the_quota():
    d = decide(a_pass(), Direction.OUT, NORMAL, NOW, POLICY)
    assert d.outcome is Outcome.ALLOW and d.reason is Reason.OK
    assert d.counts_against_quota


def test_coming_back_in_does_not_count_against_the_quota():
    d = decide(a_pass(), Direction.IN, NORMAL, NOW, POLICY)
    assert d.allowed and not d.counts_against_quota


@pytest.mark.parametrize(
    ("gate_pass", "reason"),
    [
        (None, Reason.UNKNOWN_PASS),
        (a_pass(revoked=True), Reason.REVOKED),
        (a_pass(valid_to=TODAY - timedelta(days=1)), Reason.EXPIRED),
        (a_pass(valid_from=TODAY + timedelta(days=1)), Reason.NOT_YET_VALID),
    ],
)
def test_papers_not_in_order_mean_no_passage(gate_pass: Pass | None, reason: Reason):
    for direction in Direction:
        d = decide(gate_pass, direction, NORMAL, NOW, POLICY)
        assert d.outcome is Outcome.DENY and d.reason is reason


def test_a_pass_is_valid_through_its_last_day():
    assert decide(a_pass(valid_to=TODAY), Direction.IN, NORMAL, NOW, POLICY).allowed


def test_outing_quota_one_per_household_every_two_days():
    yesterday = TODAY - timedelta(days=1)
    used = decide(a_pass(), Direction.OUT, NORMAL, NOW, POLICY, [yesterday])
    assert used.outcome is Outcome.DENY and used.reason is Reason.QUOTA_USED
    two_days_ago = TODAY - timedelta(days=2)
    assert decide(a_pass(), Direction.OUT, NORMAL, NOW, POLICY, [two_days_ago]).allowed
    # coming home is never blocked by the quota
    assert decide(a_pass(), Direction.IN, NORMAL, NOW, POLICY, [TODAY]).allowed


def test_quota_is_configurable_and_can_be_switched_off():
    three_in_a_week = Policy(quota_outings=3, quota_days=7)
    days = [TODAY - timedelta(days=1), TODAY - timedelta(days=3)]
    assert decide(a_pass(), Direction.OUT, NORMAL, NOW, three_in_a_week, days).allowed
    days.append(TODAY)
    assert decide(a_pass(), Direction.OUT, NORMAL, NOW, three_in_a_week, days).reason is (
        Reason.QUOTA_USED
    )
    off = Policy(quota_outings=0)
    d = decide(a_pass(), Direction.OUT, NORMAL, NOW, off, [TODAY] * 5)
    assert d.allowed and not d.counts_against_quota


def test_essential_workers_are_exempt_from_the_quota():
    d = decide(a_pass(PassKind.WORKER), Direction.OUT, NORMAL, NOW, POLICY, [TODAY] * 3)
    assert d.allowed and not d.counts_against_quota


def test_a_reading_at_the_threshold_asks_for_a_remeasure_and_the_remeasure_decides():
    first = decide(a_pass(), Direction.IN, [temp(37.3)], NOW, POLICY)
    assert first.outcome is Outcome.REMEASURE and first.reason is Reason.FEVER_REMEASURE
    cleared = decide(a_pass(), Direction.IN, [temp(37.3), temp(36.9)], NOW, POLICY)
    assert cleared.allowed
    confirmed = decide(a_pass(), Direction.IN, [temp(37.3), temp(37.6)], NOW, POLICY)
    assert confirmed.outcome is Outcome.DENY and confirmed.reason is Reason.FEVER
    assert confirmed.escalate


def test_just_below_the_threshold_passes():
    assert decide(a_pass(), Direction.IN, [temp(37.29)], NOW, POLICY).allowed


def test_the_forehead_offset_is_applied_before_the_threshold():
    # raw forehead skin 36.7 + 0.7 offset = 37.4 >= 37.3: re-measure
    policy = Policy(forehead_offset_c=0.7)
    reading = temp(36.7, offset=policy.forehead_offset_c)
    assert reading.used_c == pytest.approx(37.4) and reading.object_c == 36.7
    d = decide(a_pass(), Direction.IN, [reading], NOW, policy)
    assert d.outcome is Outcome.REMEASURE


@pytest.mark.parametrize("value", [None, 31.9, 43.0, float("nan"), float("inf")])
def test_an_invalid_reading_is_never_a_silent_pass(value: float | None):
    d = decide(a_pass(), Direction.IN, [temp(value)], NOW, POLICY)
    assert d.outcome is Outcome.REMEASURE and d.reason is Reason.READING_INVALID
    assert decide(a_pass(), Direction.IN, [], NOW, POLICY).reason is Reason.READING_INVALID


def test_an_invalid_remeasure_after_a_high_reading_is_not_a_pass():
    d = decide(a_pass(), Direction.IN, [temp(38.0), temp(None)], NOW, POLICY)
    assert d.outcome is Outcome.REMEASURE and d.reason is Reason.READING_INVALID


def test_reading_states_cover_lo_hi_and_sensor_errors():
    assert temp(31.0).state is ReadingState.LO
    assert temp(43.5).state is ReadingState.HI
    assert temp(float("nan")).state is ReadingState.SENSOR_ERROR
    assert temp(None).state is ReadingState.NO_TARGET
    assert temp(36.6).state is ReadingState.VALID


def test_a_gate_can_refuse_a_pass_kind_and_restrict_hours():
    residents_only_in = Policy(allowed_kinds={Direction.IN: frozenset({PassKind.RESIDENT}),
                                              Direction.OUT: frozenset(PassKind)})
    d = decide(a_pass(PassKind.SUPPLIER), Direction.IN, NORMAL, NOW, residents_only_in)
    assert d.reason is Reason.WRONG_KIND
    deliveries = Policy(hours={PassKind.SUPPLIER: HourWindow(time(6), time(9))})
    d = decide(a_pass(PassKind.SUPPLIER), Direction.IN, NORMAL, NOW, deliveries)
    assert d.reason is Reason.WRONG_HOUR
    assert decide(a_pass(PassKind.SUPPLIER), Direction.IN, NORMAL,
                  NOW.replace(hour=7), deliveries).allowed


def test_night_window_wraps_past_midnight():
    night = HourWindow(time(22), time(6))
    assert night.contains(time(23)) and night.contains(time(5, 59))
    assert not night.contains(time(12))


def test_paper_problems_are_the_main_reason_and_a_confirmed_fever_is_found_next_to_them():
    d = decide(a_pass(revoked=True), Direction.IN, [temp(39.0), temp(39.0)], NOW, POLICY)
    assert d.outcome is Outcome.DENY and d.reason is Reason.REVOKED
    assert d.escalate and d.fever and d.findings == (Reason.REVOKED, Reason.FEVER)


@pytest.mark.parametrize(
    ("gate_pass", "exits", "reason"),
    [
        (a_pass(valid_to=TODAY - timedelta(days=1)), [], Reason.EXPIRED),
        (a_pass(), [TODAY], Reason.QUOTA_USED),
        (None, [], Reason.UNKNOWN_PASS),
    ],
)
def test_a_fever_is_never_lost_behind_the_papers(gate_pass: Pass | None, exits: list[date],
                                                 reason: Reason):
    first = decide(gate_pass, Direction.OUT, [temp(38.5)], NOW, POLICY, exits)
    assert first.outcome is Outcome.REMEASURE and first.reason is Reason.FEVER_REMEASURE
    assert reason in first.findings  # the papers' problem is already known
    d = decide(gate_pass, Direction.OUT, [temp(38.5), temp(38.6)], NOW, POLICY, exits)
    assert d.outcome is Outcome.DENY and d.reason is reason and d.escalate
    assert d.findings == (reason, Reason.FEVER) and not d.counts_against_quota


def test_papers_not_in_order_with_a_normal_or_no_reading_are_only_the_papers():
    expired = a_pass(valid_to=TODAY - timedelta(days=1))
    for readings in ([], NORMAL, [temp(25.0)]):
        d = decide(expired, Direction.IN, readings, NOW, POLICY)
        assert (d.outcome, d.reason, d.escalate, d.findings) == (
            Outcome.DENY, Reason.EXPIRED, False, (Reason.EXPIRED,))


def test_a_forged_paper_with_a_fever_is_escalated():
    d = decide(None, Direction.IN, [temp(38.0), temp(38.1)], NOW, POLICY,
               paper_problem=Reason.FORGED)
    assert d.reason is Reason.FORGED and d.escalate and d.fever


def test_a_visitor_at_a_closed_hour_with_a_fever_is_escalated():
    closed = Policy(hours={PassKind.VISITOR: HourWindow(time(6), time(8))})
    d = decide_visitor(Direction.IN, [temp(38.0), temp(38.1)], NOW, closed)
    assert d.reason is Reason.WRONG_HOUR and d.escalate and d.fever


def test_check_papers_is_what_decide_refuses_for():
    assert check_papers(a_pass(), Direction.OUT, NOW, POLICY) is None
    assert check_papers(a_pass(), Direction.OUT, NOW, POLICY, [TODAY]) is Reason.QUOTA_USED
    assert check_papers(a_pass(), Direction.IN, NOW, POLICY, [TODAY]) is None


def test_direction_defaults_from_the_last_movement():
    assert default_direction(Direction.OUT) is Direction.IN
    assert default_direction(Direction.IN) is Direction.OUT
    assert default_direction(None) is Direction.OUT


def test_every_reason_has_a_chinese_and_an_english_message():
    for reason in Reason:
        msg = MESSAGES[reason]
        assert msg.zh and msg.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in msg.zh)


def test_a_reading_is_attached_only_when_fresh_and_taken_after_identification():
    r = make_reading(36.5, taken_monotonic=100.0)
    assert is_fresh(r, identified_monotonic=99.0, now_monotonic=101.0)
    assert not is_fresh(r, identified_monotonic=100.5, now_monotonic=101.0)  # before the person
    assert not is_fresh(r, identified_monotonic=99.0, now_monotonic=103.5)  # stale
    manual = make_reading(36.5, source=ReadingSource.MANUAL)
    assert is_fresh(manual, identified_monotonic=500.0, now_monotonic=600.0)


def test_messages_are_plain_words_for_the_red_screen():
    d = decide(None, Direction.IN, NORMAL, NOW, POLICY)
    assert d.message.zh.startswith("无有效通行证")
    assert "No valid pass" in d.message.en


def test_date_only_policy_uses_calendar_days():
    # an outing at 23:59 yesterday blocks today, not the day after tomorrow
    late = datetime(2020, 2, 14, 23, 59).date()
    assert isinstance(late, date)
    assert decide(a_pass(), Direction.OUT, NORMAL, NOW, POLICY, [late]).reason is (
        Reason.QUOTA_USED
    )
    assert decide(a_pass(), Direction.OUT, NORMAL, NOW + timedelta(days=1), POLICY,
                  [late]).allowed


def test_names_and_phones_are_masked_for_the_screen():
    from kiosk.core.privacy import mask_id_number, mask_name, mask_phone

    assert mask_name("张三明") == "张*明" and mask_name("李四") == "李*"
    assert mask_name("欧阳娜娜") == "欧**娜" and mask_name("王") == "王"
    assert mask_phone("13812345678") == "138****5678" and mask_phone("5551") == "**51"
    assert mask_id_number("420602199001011234") == "420602********1234"
