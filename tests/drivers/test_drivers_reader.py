"""The reader thread: states, reconnection, callbacks and a clean stop, on a real pty."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from drivers_testkit import (  # noqa: F401 - fixtures
    Recorder,
    make_sim_fixture,
    recorder_fixture,
    wait_until,
)

from drivers.reader import ReaderEvent, ReaderState, ThermometerReader
from drivers.registry import make_thermometer
from drivers.simulator import SimulatedThermometer
from kiosk.core.screening import ReadingState

MakeSim = Callable[..., SimulatedThermometer]
FAST = {"no_data_after_s": 0.6, "wrong_protocol_after_s": 0.6, "reconnect_interval_s": 0.1}


@pytest.fixture
def readers() -> Iterator[list[ThermometerReader]]:
    started: list[ThermometerReader] = []
    yield started
    for reader in started:
        assert reader.stop(), "reader thread did not stop"


def start_reader(
    readers: list[ThermometerReader], device: object, callback: Callable[[ReaderEvent], None]
) -> ThermometerReader:
    reader = ThermometerReader(device, callback, **FAST)  # type: ignore[arg-type]
    readers.append(reader)
    reader.start()
    return reader


def test_readings_reach_the_callback_and_latest(make_sim: MakeSim, readers, recorder: Recorder):
    sim = make_sim("gy-mcu90614")
    sim.set_temperature(37.0, ambient=26.0)
    reader = start_reader(readers, make_thermometer("gy-mcu90614", sim.port), recorder)
    assert wait_until(lambda: len(recorder.readings()) >= 3)
    assert reader.state is ReaderState.CONNECTED
    assert recorder.states()[:2] == [ReaderState.STARTING, ReaderState.CONNECTED]
    latest = reader.latest
    assert latest is not None and latest.object_c == 37.0 and latest.ambient_c == 26.0
    assert time.monotonic() - latest.taken_monotonic < 5.0


def test_unplug_and_replug_reconnects_by_itself(make_sim: MakeSim, readers, recorder: Recorder):
    sim = make_sim("gy-mcu90614", streaming=True, interval_s=0.03)
    device = make_thermometer("gy-mcu90614", sim.port, mode="continuous")
    reader = start_reader(readers, device, recorder)
    assert wait_until(lambda: reader.state is ReaderState.CONNECTED)
    sim.unplug()
    assert wait_until(lambda: reader.state is ReaderState.UNPLUGGED)
    mark = recorder.mark()
    sim.set_temperature(38.2, ambient=27.0)
    sim.replug()
    assert wait_until(lambda: any(r.object_c == 38.2 for r in recorder.readings_since(mark)))
    assert reader.state is ReaderState.CONNECTED
    assert recorder.states_since(mark)[:2] == [ReaderState.STARTING, ReaderState.CONNECTED]


def test_port_missing_at_start_then_plugged(make_sim: MakeSim, readers, recorder: Recorder):
    sim = make_sim("text-lines", interval_s=0.03)
    sim.unplug()
    reader = start_reader(readers, make_thermometer("text-lines", sim.port), recorder)
    assert wait_until(lambda: reader.state is ReaderState.UNPLUGGED)
    sim.replug()
    assert wait_until(lambda: reader.state is ReaderState.CONNECTED)
    assert wait_until(lambda: reader.latest is not None)


def test_silence_is_no_data_then_recovers(make_sim: MakeSim, readers, recorder: Recorder):
    sim = make_sim("gy-mcu90614")
    reader = start_reader(readers, make_thermometer("gy-mcu90614", sim.port), recorder)
    assert wait_until(lambda: reader.state is ReaderState.CONNECTED)
    sim.silence(True)
    assert wait_until(lambda: reader.state is ReaderState.NO_DATA)
    latest = reader.latest
    assert latest is not None and latest.state is ReadingState.NO_TARGET  # query timeouts
    sim.silence(False)
    assert wait_until(lambda: reader.state is ReaderState.CONNECTED)


@pytest.mark.parametrize(
    ("protocol", "options", "sim_options"),
    [
        # a module that speaks only one rate, behind a port opened at another
        ("aa55", {}, {"protocol": "aa55", "baud": 9600, "streaming": True}),
        ("modbus-rtu", {}, {"protocol": "gy-mcu90614", "streaming": True}),
    ],
    ids=["wrong-baud", "wrong-protocol"],
)
def test_bytes_without_frames_is_wrong_protocol(
    make_sim: MakeSim, readers, recorder: Recorder, protocol, options, sim_options
):
    sim_options = {"interval_s": 0.03, **sim_options}
    sim = make_sim(sim_options.pop("protocol", "gy-mcu90614"), **sim_options)
    device = make_thermometer(protocol, sim.port, **options)
    reader = start_reader(readers, device, recorder)
    assert wait_until(lambda: reader.state is ReaderState.WRONG_PROTOCOL)
    assert all(r.object_c is None for r in recorder.readings())


def test_a_failing_callback_does_not_kill_the_reader(make_sim: MakeSim, readers):
    sim = make_sim("gy-mcu90614")
    calls: list[ReaderEvent] = []

    def explode(event: ReaderEvent) -> None:
        calls.append(event)
        raise RuntimeError("UI bug")

    reader = start_reader(readers, make_thermometer("gy-mcu90614", sim.port), explode)
    assert wait_until(lambda: len(calls) >= 5)
    assert reader.state is ReaderState.CONNECTED


@pytest.mark.parametrize("situation", ["streaming", "query-silent", "unplugged", "modbus"])
def test_stop_joins_within_a_second(make_sim: MakeSim, recorder: Recorder, situation: str):
    if situation == "modbus":
        sim = make_sim("modbus-rtu")
        device = make_thermometer("modbus-rtu", sim.port)
    else:
        sim = make_sim("gy-mcu90614", streaming=True, interval_s=0.03)
        mode = "query" if situation == "query-silent" else "continuous"
        device = make_thermometer("gy-mcu90614", sim.port, mode=mode)
    reader = ThermometerReader(device, recorder, **FAST)
    reader.start()
    assert wait_until(lambda: reader.state is ReaderState.CONNECTED)
    if situation == "query-silent":
        sim.silence(True)
    if situation == "unplugged":
        sim.unplug()
        assert wait_until(lambda: reader.state is ReaderState.UNPLUGGED)
    started = time.monotonic()
    assert reader.stop(timeout_s=1.0)
    assert time.monotonic() - started < 1.5
    assert reader.state is ReaderState.STOPPED and not device.is_open
    assert recorder.states()[-1] is ReaderState.STOPPED


@pytest.mark.parametrize("mode", ["continuous", "query"])
def test_a_module_shipped_at_115200_is_found_by_trying_the_other_rate(
    make_sim: MakeSim, readers, recorder: Recorder, mode: str
):
    sim = make_sim("gy-mcu90614", baud=115200, streaming=mode == "continuous", interval_s=0.03)
    sim.set_temperature(36.6, ambient=25.0)
    device = make_thermometer("gy-mcu90614", sim.port, mode=mode)  # configured: 9600
    reader = start_reader(readers, device, recorder)
    assert wait_until(lambda: any(r.object_c == 36.6 for r in recorder.readings()))
    assert reader.state is ReaderState.CONNECTED
    assert device.identity.baud == 115200
    # no garbage from the wrong rate was ever taken for a reading
    assert all(r.object_c in (None, 36.6) for r in recorder.readings())
