""""Who is out" at a gate counts the other gates' movements once they are synced: a
resident who went out at gate 1 is out at gate 2, and back in when they return at gate 2."""

from __future__ import annotations

import datetime

from sync_testkit import Kiosk

from kiosk.core.model import Direction
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


def test_a_kiosk_clock_45_days_fast_does_not_keep_a_person_out_after_a_real_in(
        kiosks: list[Kiosk], central):
    """Gate 1's clock runs 45 days ahead (its event is flagged drifted); R2 goes out there,
    then comes back in at gate 2. Neither gate 2, nor a third look from gate 1's sync, nor
    the dashboard may believe R2 is "out since" next month."""
    import time as time_mod

    from kiosk_testing import FakeClock

    from kiosk.core.clock import ClockState
    from kiosk.gate import Gate
    from kiosk.server.web import queries
    from kiosk.server.web.settings import DashboardSettings

    gate1, gate2 = kiosks
    clock = FakeClock(wall_s=time_mod.time())
    gate1.gate.close()
    gate1.gate = Gate(gate1.store, gate1.settings, clock=clock.sample)
    gate1.check("W1", "out")
    clock.wall_s += 45 * 86400  # the wall clock jumps ahead; monotonic time does not
    fast = gate1.check("R2", "out")
    assert fast.event.clock_state is ClockState.DRIFTED
    gate1.sync()
    gate2.sync()
    assert set(_out(gate2)) == {"W1", "R2"}  # out (at an honest time: when it arrived)
    assert gate2.check("R2").direction.value == "in"  # back in, for real
    assert set(_out(gate2)) == {"W1"}
    gate2.sync()
    for k in kiosks:
        k.sync()
    assert set(_out(gate2)) == {"W1"}
    with central.engine.connect() as conn:  # the dashboard's "out now" list
        out_now = queries.out_now_page(conn, DashboardSettings.from_env(), queries.Scope(),
                                       datetime.date.today(), 0, 100)
    assert {o.pass_number for o in out_now} == {"W1"}


def test_a_kiosk_whose_own_clock_runs_45_days_fast_does_not_keep_a_person_out_in_its_view(
        kiosks: list[Kiosk]):
    """Gate 1's whole clock runs 45 days ahead (its syncs measure it against the central
    store). R2 goes out there and comes back in at gate 2. Gate 1's own list and its
    suggestion must follow the real "in", not its own fast wall time (issue 12, point 12)."""
    import time as time_mod
    from datetime import UTC

    from kiosk.core.clock import ClockSample
    from kiosk.gate import Gate
    from kiosk.store.roster import last_direction
    from kiosk.sync.client import SyncClient
    from kiosk.sync.runner import Syncer

    gate1, gate2 = kiosks
    ahead = 45 * 86400.0  # seconds; the clock runs on, 45 days ahead

    def fast() -> ClockSample:
        return ClockSample(time_mod.time() + ahead, time_mod.monotonic(), "boot-1")

    gate1.gate.close()
    gate1.gate = Gate(gate1.store, gate1.settings, clock=fast)

    def sync_gate1() -> None:
        client = SyncClient(gate1.server_url, gate1.secret,
                            clock=lambda: datetime.datetime.fromtimestamp(fast().wall_s, UTC))
        with client:
            Syncer(gate1.store.engine, gate1.data_dir, gate1.settings.device.id,
                   client).run()

    gate1.check("W1", "out")
    gate1.check("R2", "out")
    sync_gate1()  # measures gate 1's clock: 45 days fast
    gate2.sync()
    assert gate2.check("R2").direction.value == "in"  # back in, for real
    gate2.sync()
    sync_gate1()
    assert set(_out(gate1)) == {"W1"}
    with gate1.store.engine.connect() as conn:
        assert last_direction(conn, "R2") is Direction.IN  # so gate 1 suggests OUT next
