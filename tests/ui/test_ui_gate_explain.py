"""Refusals that explain themselves on the result screen's model, down to the record: when
the household last went out and may next, the number scanned, the pass's dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from kiosk_testing import Tick

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.ui.vm.flow import GateFlow, Phase


def through(flow: GateFlow, tick: Tick, number: str, direction: Direction | None = None):  # noqa: ANN201
    if direction is not None:
        flow.set_direction(direction)
    flow.present(number, "scanner")
    tick.t += 0.1
    flow.on_reading(make_reading(36.5, source=ReadingSource.DEVICE, taken_monotonic=tick()))
    assert flow.phase is Phase.RESULT
    result = flow.result
    flow.dismiss()
    tick.t += 1
    return result


def recorded(store) -> list[tuple]:  # noqa: ANN001
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "select pass_number, direction, outcome, reason from gate_events order by seq").all()


def test_quota_says_when_the_household_last_went_out_and_may_next(flow, tick, clock,
                                                                   loaded_store):
    went_out = datetime.fromtimestamp(clock.wall_s)
    assert through(flow, tick, "R0001", Direction.OUT).allowed
    clock.advance(90 * 60)
    refused = through(flow, tick, "R0002", Direction.OUT)
    assert refused.reason == "quota_used" and refused.detail is not None
    next_day = f"{went_out.date() + timedelta(days=2):%m-%d}"  # 1 outing in 2 days
    assert refused.detail.zh == f"本户上次外出 {went_out:%m-%d %H:%M}，{next_day} 起可再外出"
    assert refused.detail.en == (f"Household last out {went_out:%m-%d %H:%M}; "
                                 f"next outing from {next_day}")
    assert recorded(loaded_store) == [("R0001", "out", "allow", "ok"),
                                      ("R0002", "out", "deny", "quota_used")]


def test_unknown_pass_shows_the_number_and_a_bad_date_shows_the_dates(flow, tick,
                                                                     loaded_store):
    unknown = through(flow, tick, "R9404", Direction.IN)
    assert unknown.detail is not None and unknown.detail.zh == "证号：R9404"
    assert unknown.detail.en == "Pass no.: R9404"
    expired = through(flow, tick, "R0004", Direction.IN)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert expired.detail is not None and expired.detail.en.endswith(f"to {yesterday}")
    early = through(flow, tick, "R0005", Direction.IN)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert early.detail is not None and early.detail.zh.startswith(f"有效期：{tomorrow}")
    allowed = through(flow, tick, "R0003", Direction.IN)
    assert allowed.allowed and allowed.detail is None
    assert recorded(loaded_store) == [
        ("R9404", "in", "deny", "unknown_pass"), ("R0004", "in", "deny", "expired"),
        ("R0005", "in", "deny", "not_yet_valid"), ("R0003", "in", "allow", "ok")]
