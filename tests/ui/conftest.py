"""Fixtures of the view-model tests: a clock the test moves, and the gate's flow on it with a
connected thermometer (a module may define its own ``flow`` with other settings)."""

from __future__ import annotations

import pytest
from kiosk_testing import Tick

from drivers.reader import ReaderState
from kiosk.gate import Gate
from kiosk.ui.vm.base import InlineRunner
from kiosk.ui.vm.flow import GateFlow


@pytest.fixture
def tick() -> Tick:
    return Tick()


@pytest.fixture
def flow(gate: Gate, tick: Tick) -> GateFlow:
    f = GateFlow(gate, InlineRunner(), clock=tick)
    f.set_thermometer_state(ReaderState.CONNECTED)
    return f
