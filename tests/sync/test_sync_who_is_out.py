""""Who is out" at a gate counts the other gates' movements once they are synced: a
resident who went out at gate 1 is out at gate 2, and back in when they return at gate 2."""

from __future__ import annotations

from sync_testkit import Kiosk

from kiosk.ui.vm.queries import who_is_out

pytest_plugins = ["sync_testkit"]  # fixtures: central, kiosks (SQLite and PostgreSQL)


def _out(k: Kiosk) -> dict[str, str]:
    return {p.pass_number: p.place for p in who_is_out(k.store.engine)}


def test_who_is_out_spans_the_gates_of_the_compound(kiosks: list[Kiosk]):
    gate1, gate2 = kiosks
    gate1.check("R1", "out")
    gate1.check("W1", "out")
    assert set(_out(gate1)) == {"R1", "W1"} and _out(gate2) == {}
    gate1.sync()
    gate2.sync()
    out_at_2 = _out(gate2)
    assert set(out_at_2) == {"R1", "W1"}
    assert out_at_2["R1"] == _out(gate1)["R1"] != ""  # named and placed from gate 2's roster

    assert gate2.check("R1").direction.value == "in"  # suggested: coming back
    assert set(_out(gate2)) == {"W1"}
    gate2.sync()
    gate1.sync()
    assert set(_out(gate1)) == {"W1"}  # back in at gate 2: no longer out at gate 1 either
