"""Undo at the gate: a movement recorded by mistake is corrected by a new event naming it
(append-only), the outing it spent is given back, and after 60 s it is no longer offered.
Checked down to the database and the nightly export."""

from __future__ import annotations

import csv
from datetime import date, datetime

import pytest
from kiosk_testing import Tick

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.export.nightly import ExportOptions, export_day
from kiosk.gate import GateError
from kiosk.store.events import verify_chain
from kiosk.ui.vm.flow import GateFlow, Phase
from kiosk.ui.vm.queries import handover, who_is_out


def through(flow: GateFlow, tick: Tick, number: str, direction: Direction):  # noqa: ANN201
    flow.set_direction(direction)
    flow.present(number, "scanner")
    tick.t += 0.1
    flow.on_reading(make_reading(36.5, source=ReadingSource.DEVICE, taken_monotonic=tick()))
    assert flow.phase is Phase.RESULT
    return flow.result


def later(tick: Tick, clock, seconds: float) -> None:  # noqa: ANN001
    tick.t += seconds
    clock.advance(seconds)


def rows(store) -> list[tuple]:  # noqa: ANN001
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "select pass_number, direction, outcome, reason, counts_against_quota, "
            "identified_by, corrects_event_id from gate_events order by seq").all()


def test_a_mistaken_exit_is_undone_and_the_next_member_may_go_out(flow, tick, clock,
                                                                   loaded_store, settings,
                                                                   tmp_path):
    mistaken = through(flow, tick, "R0001", Direction.OUT)  # 张三明 came IN, OUT was tapped
    assert mistaken.allowed
    later(tick, clock, 4)
    flow.tick()  # the result closed itself; the gate screen offers the undo
    assert flow.phase is Phase.IDLE and flow.can_undo
    taps = 0
    flow.undo()
    taps += 1
    assert flow.message == ("undone", {"name": "张*明", "kind": "resident"}) \
        and not flow.can_undo
    assert rows(loaded_store) == [
        ("R0001", "out", "allow", "ok", 1, "scanner", None),
        ("R0001", "out", "undo", "undone", 0, "correction", mistaken.event_id)]
    # the outing is given back: the next member of the household may go out
    later(tick, clock, 10)
    assert through(flow, tick, "R0002", Direction.OUT).allowed
    assert rows(loaded_store)[2][:4] == ("R0002", "out", "allow", "ok")
    # and 张三明 is not "out": the next suggestion for the card is OUT again
    assert flow.gate.suggest_direction(flow.gate.identify("R0001")) is Direction.OUT
    assert [p.pass_number for p in who_is_out(loaded_store.engine)] == ["R0002"]
    assert taps == 1 and verify_chain(loaded_store.engine, settings.device.id) == []
    # the nightly export shows the correction next to the movement it corrects
    result = export_day(loaded_store.engine, date.fromtimestamp(clock.wall_s), tmp_path,
                        ExportOptions(label=settings.checkpoint.id, actor="test"))
    with open(result.files[0].path, encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    header = table[0]
    corrected = [r for r in table[1:] if r[header.index("更正的事件")]]
    assert len(corrected) == 1 and corrected[0][header.index("更正的事件")] == mistaken.event_id
    assert "已撤销" in ",".join(corrected[0])
    # the shift's handover: one exit (R0002), no denial; the undone exit and its correction
    # are no decisions
    shift = handover(loaded_store.engine, datetime(2000, 1, 1))
    assert (shift.went_out, shift.went_in, shift.denied) == (1, 0, 0)


def test_no_undo_after_60_seconds(flow, tick, clock, loaded_store):
    out = through(flow, tick, "R0003", Direction.OUT)
    flow.dismiss()
    later(tick, clock, 59)
    flow.tick()
    assert flow.can_undo
    later(tick, clock, 2)
    flow.tick()
    assert not flow.can_undo  # the button is gone
    flow.undo()  # a tap that arrives anyway
    assert flow.message == ("undo_too_late", {})
    with pytest.raises(GateError, match="too late"):
        flow.gate.undo(out.event_id)
    assert [r[2] for r in rows(loaded_store)] == ["allow"]


def test_a_refusal_and_an_undone_movement_cannot_be_undone(flow, tick, clock, loaded_store):
    refused = through(flow, tick, "R0004", Direction.IN)  # expired
    assert not refused.allowed and not flow.can_undo
    with pytest.raises(GateError, match="not a movement"):
        flow.gate.undo(refused.event_id)
    ok = through(flow, tick, "R0003", Direction.IN)
    undo = flow.gate.undo(ok.event_id)
    with pytest.raises(GateError, match="already undone"):
        flow.gate.undo(ok.event_id)
    with pytest.raises(GateError, match="not a movement"):
        flow.gate.undo(undo.event.id)
    assert [r[2] for r in rows(loaded_store)] == ["deny", "allow", "undo"]


def test_a_courier_undone_is_named_in_the_volunteers_language(flow, tick, clock,
                                                              loaded_store):
    from kiosk.store.events import Visitor
    from kiosk.ui.screens.gate import translated
    from kiosk.ui.vm.visitor import COURIER_NAME

    flow.set_direction(Direction.IN)
    assert flow.start_visitor(Visitor(COURIER_NAME, "13912345678", "快递外卖", "3"),
                              Direction.IN)
    tick.t += 0.1
    flow.on_reading(make_reading(36.5, source=ReadingSource.DEVICE, taken_monotonic=tick()))
    assert flow.phase is Phase.RESULT and flow.result.allowed
    later(tick, clock, 4)
    flow.tick()
    flow.undo()
    key, fields = flow.message
    assert key == "undone"
    assert translated(fields, "en")["name"] == "Courier"
    assert translated(fields, "zh")["name"] == "快递员"
    with loaded_store.engine.connect() as conn:
        assert conn.exec_driver_sql(
            "select visitor_name, outcome from gate_events order by seq").all() == [
            ("快递员", "allow"), ("快递员", "undo")]
