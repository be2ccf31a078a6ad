"""Helpers and fixtures for the thermometer driver tests.

Deliberately not a conftest.py: the suite's other tests do ``from conftest import ...`` and a
second conftest module on sys.path would shadow theirs. Test modules import the fixtures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drivers.reader import ReaderEvent, ReaderState, ReadingEvent, StateEvent
from drivers.simulator import SimulatedThermometer
from kiosk.core.screening import Reading

#: Generous upper bound for anything asynchronous (a loaded 2-core CI box).
WAIT_S = 8.0


def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    """Poll until ``predicate()`` is true; never a fixed sleep that asserts timing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Recorder:
    """Thread-safe ReaderEvent sink for the reader's callback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[ReaderEvent] = []

    def __call__(self, event: ReaderEvent) -> None:
        with self._lock:
            self.events.append(event)

    def readings(self) -> list[Reading]:
        with self._lock:
            return [e.reading for e in self.events if isinstance(e, ReadingEvent)]

    def states(self) -> list[ReaderState]:
        with self._lock:
            return [e.state for e in self.events if isinstance(e, StateEvent)]

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def readings_since(self, mark: int) -> list[Reading]:
        with self._lock:
            return [e.reading for e in self.events[mark:] if isinstance(e, ReadingEvent)]

    def states_since(self, mark: int) -> list[ReaderState]:
        with self._lock:
            return [e.state for e in self.events[mark:] if isinstance(e, StateEvent)]


@pytest.fixture(name="make_sim")
def make_sim_fixture(tmp_path: Any) -> Iterator[Callable[..., SimulatedThermometer]]:
    """Start simulators whose port symlink lives in tmp_path; all are stopped afterwards."""
    sims: list[SimulatedThermometer] = []

    def make(protocol: str = "gy-mcu90614", **options: Any) -> SimulatedThermometer:
        directory = tmp_path / f"sim{len(sims)}"
        directory.mkdir()
        sim = SimulatedThermometer(protocol, link_dir=directory, **options)
        sims.append(sim)
        return sim.start()

    yield make
    for sim in sims:
        sim.stop()


@pytest.fixture(name="recorder")
def recorder_fixture() -> Recorder:
    """A fresh thread-safe callback sink."""
    return Recorder()
