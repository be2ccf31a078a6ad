"""Drivers against simulated devices on a real pseudo-terminal: exact bytes, every fault."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from contextlib import closing

import pytest
from drivers_testkit import make_sim_fixture, wait_until  # noqa: F401 - fixture

from drivers import gy_mcu90614
from drivers.gy_mcu90614 import GyMcu90614
from drivers.modbus_rtu import ModbusThermometer
from drivers.registry import make_thermometer
from drivers.simulator import SimFault, SimulatedThermometer
from drivers.thermometer import DeviceGone, PortUnavailable, SerialThermometer, Thermometer
from kiosk.core.decision import Outcome
from kiosk.core.event import DEVICE_NAME_MAX
from kiosk.core.model import Direction
from kiosk.core.screening import Reading, ReadingState

MakeSim = Callable[..., SimulatedThermometer]


def collect(device: SerialThermometer, count: int, *, max_calls: int = 100) -> list[Reading]:
    """Up to ``count`` readings (None results skipped), bounded by ``max_calls`` waits."""
    found: list[Reading] = []
    for _ in range(max_calls):
        reading = device.next_reading(0.3)
        if reading is not None:
            found.append(reading)
        if len(found) >= count:
            break
    return found


@pytest.fixture
def opened() -> Callable[[SerialThermometer], SerialThermometer]:
    devices: list[SerialThermometer] = []

    def open_(device: SerialThermometer) -> SerialThermometer:
        device.open()
        devices.append(device)
        return device

    yield open_  # type: ignore[misc]
    for device in devices:
        device.close()


def test_gy_query_mode_reports_the_set_temperature(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    sim.set_temperature(37.0, ambient=26.0)
    device = opened(GyMcu90614(sim.port))
    assert isinstance(device, Thermometer)
    reading = device.next_reading(1.0)
    assert reading is not None
    assert (reading.state, reading.object_c, reading.ambient_c) == (ReadingState.VALID, 37.0, 26.0)
    assert reading.protocol == "gy-mcu90614" and device.identity.port == sim.port
    assert reading.device == str(device.identity)
    assert bytes(sim.received).startswith(bytes.fromhex("A5 15 BA"))
    sim.set_temperature(31.5, ambient=20.0)
    assert wait_until(lambda: (r := device.next_reading(0.5)) is not None and r.object_c == 31.5)
    last = device.next_reading(0.5)
    assert last is not None and last.state is ReadingState.LO


def test_gy_continuous_mode_sends_the_command_and_streams(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614", interval_s=0.02)
    sim.set_temperature(36.85, ambient=24.1)
    device = opened(GyMcu90614(sim.port, mode="continuous"))
    readings = collect(device, 5)
    assert len(readings) == 5
    assert all(r.object_c == 36.85 and r.ambient_c == 24.1 for r in readings)
    assert bytes(sim.received) == bytes.fromhex("A5 45 EA")  # no queries in continuous mode


def test_gy_garbage_split_frames_and_mid_frame_start(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    sim.silence(True)  # the module sends nothing of its own: the test writes every byte
    device = opened(GyMcu90614(sim.port, mode="continuous"))
    good = gy_mcu90614.encode_frame(37.0, 26.0)
    stream = (
        good[3:]  # starts mid-frame
        + b"\x00\xff\x5a\x13\x5a\x5a"
        + good
        + good[:-1]
        + b"\x00"  # bad sum
        + good[:2]
        + b"\x46"
        + good[3:]  # wrong type
        + good[:3]
        + b"\x05"
        + good[4:]  # wrong length
        + b"garbage\r\n"
        + good
    )
    sim.inject(stream, chunk=2)
    readings = collect(device, 2, max_calls=10)
    assert [(r.object_c, r.ambient_c) for r in readings] == [(37.0, 26.0)] * 2
    assert device.next_reading(0.2) is None  # nothing else was accepted


def test_gy_split_writes_from_the_device(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614", split=1, split_gap_s=0.003)
    sim.set_temperature(36.6, ambient=22.0)
    device = opened(GyMcu90614(sim.port))
    readings = collect(device, 3)
    assert [r.object_c for r in readings] == [36.6] * 3


def test_gy_bad_checksums_give_no_reading_only_no_target(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    sim.set_fault(SimFault.BAD_CHECKSUM)
    device = opened(GyMcu90614(sim.port))
    readings = collect(device, 3)
    assert [r.state for r in readings] == [ReadingState.NO_TARGET] * 3
    assert device.stats.bytes_in > 0 and device.stats.frames_ok == 0


def test_gy_silent_module_in_query_mode_is_no_target(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    sim.silence(True)
    device = opened(GyMcu90614(sim.port))
    reading = device.next_reading(0.2)
    assert reading is not None and reading.state is ReadingState.NO_TARGET
    assert reading.object_c is None and reading.used_c is None
    sim.silence(False)
    assert wait_until(lambda: (r := device.next_reading(0.3)) is not None and r.object_c == 36.5)


def test_gy_wrong_baud_never_yields_a_frame(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614", baud=115200, streaming=True, interval_s=0.02)
    device = opened(GyMcu90614(sim.port, baud=9600, mode="continuous"))
    readings = collect(device, 1, max_calls=4)
    assert readings == []
    assert device.stats.bytes_in > 0 and device.stats.frames_ok == 0
    device.close()
    right = opened(GyMcu90614(sim.port, baud=115200, mode="continuous"))
    assert [r.object_c for r in collect(right, 2)] == [36.5, 36.5]


def test_unplug_raises_device_gone_and_replug_works(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    device = opened(GyMcu90614(sim.port))
    assert device.next_reading(1.0) is not None
    sim.unplug()
    with pytest.raises(DeviceGone):
        for _ in range(5):
            device.next_reading(0.2)
    device.close()
    with pytest.raises(PortUnavailable):
        device.open()
    sim.replug()
    device.open()
    reading = device.next_reading(1.0)
    assert reading is not None and reading.state is ReadingState.VALID


def test_exclusive_open_reports_a_busy_port(make_sim: MakeSim, opened) -> None:
    sim = make_sim("gy-mcu90614")
    opened(GyMcu90614(sim.port))
    with pytest.raises(PortUnavailable):
        GyMcu90614(sim.port).open()


# -- Modbus ------------------------------------------------------------------------------------


def test_modbus_mq485a_reads_object_and_ambient(make_sim: MakeSim, opened) -> None:
    sim = make_sim("modbus-rtu", model="mq485a")
    sim.set_temperature(25.79, ambient=30.67)
    device = opened(ModbusThermometer(sim.port, model="mq485a"))
    reading = device.next_reading(0.5)
    assert reading is not None
    assert (reading.object_c, reading.ambient_c, reading.state) == (25.79, 30.67, ReadingState.LO)
    assert bytes(sim.received) == bytes.fromhex("01 03 00 00 00 08 44 0C")


def test_modbus_calex_reading_and_status_error(make_sim: MakeSim, opened) -> None:
    sim = make_sim("modbus-rtu", model="calex")
    sim.set_temperature(36.8)
    device = opened(ModbusThermometer(sim.port, model="calex"))
    reading = device.next_reading(0.5)
    assert reading is not None and reading.state is ReadingState.VALID
    assert reading.object_c == 36.8 and reading.used_c == 36.8
    assert bytes(sim.received).startswith(bytes.fromhex("01 03 00 12 00 01 24 0F"))
    sim.set_fault(SimFault.SENSOR_ERROR)
    fault = device.next_reading(0.5)
    assert fault is not None and fault.state is ReadingState.SENSOR_ERROR
    assert fault.object_c == 36.8 and fault.used_c is None  # raw kept, never screened


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (SimFault.BAD_CHECKSUM, None),  # CRC error: dropped
        (SimFault.WRONG_SLAVE, None),  # reply from another address: dropped
        (SimFault.EXCEPTION, ReadingState.SENSOR_ERROR),  # device-reported failure
    ],
)
def test_modbus_faults_never_give_a_value(
    make_sim: MakeSim, opened, fault: SimFault, expected: ReadingState | None
) -> None:
    sim = make_sim("modbus-rtu", model="mq485a")
    sim.set_fault(fault)
    device = opened(ModbusThermometer(sim.port, model="mq485a", reply_timeout_s=0.2))
    for _ in range(2):
        reading = device.next_reading(0.2)
        if expected is None:
            assert reading is None
        else:
            assert reading is not None and reading.state is expected
            assert reading.object_c is None and reading.used_c is None
    sim.set_fault(None)
    healthy = device.next_reading(0.2)
    assert healthy is not None and healthy.state is ReadingState.VALID


def test_modbus_timeout_and_other_slave_are_no_target(make_sim: MakeSim, opened) -> None:
    sim = make_sim("modbus-rtu", model="mq485a")
    other = opened(ModbusThermometer(sim.port, model="mq485a", slave=2, reply_timeout_s=0.15))
    reading = other.next_reading(0.2)
    assert reading is not None and reading.state is ReadingState.NO_TARGET
    other.close()
    sim.silence(True)
    device = opened(ModbusThermometer(sim.port, model="mq485a", reply_timeout_s=0.15))
    reading = device.next_reading(0.2)
    assert reading is not None and reading.state is ReadingState.NO_TARGET


def test_modbus_unplug_is_device_gone(make_sim: MakeSim, opened) -> None:
    sim = make_sim("modbus-rtu", model="mq485a")
    device = opened(ModbusThermometer(sim.port, reply_timeout_s=0.15))
    assert device.next_reading(0.2) is not None
    sim.unplug()
    with pytest.raises(DeviceGone):
        device.next_reading(0.2)


# -- Text lines and AA 55 ----------------------------------------------------------------------


def test_text_lines_reads_and_ignores_boot_text_and_fahrenheit(make_sim: MakeSim, opened) -> None:
    sim = make_sim("text-lines", interval_s=0.03)
    device = opened(make_thermometer("text-lines", sim.port))
    sim.inject(b"Adafruit MLX90614 test\r\n\r\n")
    sim.set_temperature(36.51, ambient=25.33)
    readings = collect(device, 8)
    assert readings and all(r.state is ReadingState.VALID for r in readings)
    assert readings[-1].object_c == 36.51 and readings[-1].ambient_c == 25.33


def test_text_lines_nan_is_sensor_error_without_a_value(make_sim: MakeSim, opened) -> None:
    sim = make_sim("text-lines", interval_s=0.03)
    device = opened(make_thermometer("text-lines", sim.port))
    sim.set_temperature(math.nan, ambient=math.nan)
    assert wait_until(
        lambda: (
            (r := device.next_reading(0.3)) is not None
            and r.state is ReadingState.SENSOR_ERROR
            and r.object_c is None
            and r.used_c is None
        )
    )
    sim.inject(b"Ambient = 25.00*C\tObject = ovf*C\r\n")
    sim.set_fault(SimFault.BAD_CHECKSUM)  # mangled numbers: ignored entirely
    for reading in collect(device, 5, max_calls=5):
        assert reading.state is ReadingState.SENSOR_ERROR and reading.object_c is None


@pytest.mark.parametrize("encoding", ["binary", "bcd"])
def test_aa55_both_encodings(make_sim: MakeSim, opened, encoding: str) -> None:
    sim = make_sim("aa55", encoding=encoding, interval_s=0.03)
    sim.set_temperature(37.3)
    device = opened(make_thermometer("aa55", sim.port, encoding=encoding))
    readings = collect(device, 3)
    assert [r.object_c for r in readings] == [37.3] * 3
    assert all(r.ambient_c is None for r in readings)


def test_a_long_by_id_port_path_still_records_the_movement(tmp_path, data_dir, gate) -> None:
    """/dev/serial/by-id names run to 80 characters and more: the reading names the device
    within the event's limit, and the movement is recorded, not refused."""
    link_dir = tmp_path / "dev" / "serial" / "by-id" / (
        "usb-Silicon_Labs_CP2102N_USB_to_UART_Bridge_Controller_"
        "8e2f1c7a9b34ed11a2b3c4d5e6f70809-if00-port0")
    link_dir.mkdir(parents=True)
    sim = SimulatedThermometer("gy-mcu90614", link_dir=link_dir).start()
    try:
        sim.set_temperature(36.6, ambient=22.0)
        device = GyMcu90614(sim.port)
        device.open()
        try:
            reading = device.next_reading(1.0)
        finally:
            device.close()
    finally:
        sim.stop()
    assert reading is not None and len(sim.port) + len("@9600 (query)") > DEVICE_NAME_MAX
    assert len(reading.device) == DEVICE_NAME_MAX and reading.device.endswith("@9600 (query)")
    result = gate.check("R0001", [reading], direction=Direction.OUT)
    assert result.decision.outcome is Outcome.ALLOW
    with closing(sqlite3.connect(data_dir / "kiosk.sqlite3")) as con:
        rows = con.execute("select device from readings").fetchall()
    assert rows == [(reading.device,)]
