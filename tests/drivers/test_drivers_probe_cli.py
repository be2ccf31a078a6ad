"""Probe and the ``thermometer`` click group against simulated devices."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from drivers_testkit import make_sim_fixture  # noqa: F401 - fixture

from drivers.cli import thermometer
from drivers.probe import probe
from drivers.simulator import SimulatedThermometer
from drivers.thermometer import PortUnavailable

MakeSim = Callable[..., SimulatedThermometer]


@pytest.mark.parametrize(
    ("protocol", "sim_options", "baud", "options"),
    [
        ("gy-mcu90614", {}, 9600, {"mode": "query"}),
        ("gy-mcu90614", {"baud": 115200}, 115200, {"mode": "query"}),
        ("text-lines", {"baud": 115200, "interval_s": 0.05}, 115200, {}),
        ("aa55", {"encoding": "bcd", "interval_s": 0.05}, 115200, {"encoding": "bcd"}),
        ("modbus-rtu", {"model": "calex"}, 9600, {"model": "calex", "slave": 1}),
        ("modbus-rtu", {"model": "mq485a"}, 9600, {"model": "mq485a", "slave": 1}),
    ],
    ids=["gy-9600", "gy-115200", "text-115200", "aa55-bcd", "calex", "mq485a"],
)
def test_probe_finds_protocol_and_baud(make_sim: MakeSim, protocol, sim_options, baud, options):
    sim = make_sim(protocol, **sim_options)
    result = probe(sim.port, listen_s=0.5)
    assert result is not None
    assert (result.protocol, result.baud, result.options) == (protocol, baud, options)
    device = result.make_thermometer()
    device.open()
    try:
        reading = None
        for _ in range(10):
            reading = device.next_reading(0.3)
            if reading is not None and reading.object_c is not None:
                break
        assert reading is not None and reading.object_c == 36.5
    finally:
        device.close()


def test_probe_says_none_when_nothing_answers(make_sim: MakeSim):
    sim = make_sim("gy-mcu90614")
    sim.silence(True)
    assert probe(sim.port, listen_s=0.3) is None


def test_probe_of_a_missing_port_raises(tmp_path):
    with pytest.raises(PortUnavailable):
        probe(str(tmp_path / "ttyUSB9"), listen_s=0.1)


def test_cli_probe(make_sim: MakeSim):
    sim = make_sim("gy-mcu90614")
    result = CliRunner().invoke(thermometer, ["probe", sim.port, "--listen", "0.5"])
    assert result.exit_code == 0, result.output
    assert "protocol=gy-mcu90614 baud=9600" in result.output


def test_cli_read_prints_count_lines(make_sim: MakeSim):
    sim = make_sim("gy-mcu90614")
    sim.set_temperature(36.85, ambient=24.1)
    result = CliRunner().invoke(
        thermometer, ["read", sim.port, "--protocol", "gy-mcu90614", "--count", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("valid")]
    assert lines == ["valid\t36.85\t24.10"] * 3


def test_cli_exit_2_when_nothing_answers(make_sim: MakeSim, tmp_path):
    sim = make_sim("gy-mcu90614")
    sim.silence(True)
    runner = CliRunner()
    read = runner.invoke(
        thermometer, ["read", sim.port, "-p", "gy-mcu90614", "--count", "1", "--timeout", "0.5"]
    )
    assert read.exit_code == 2
    missing = runner.invoke(thermometer, ["probe", str(tmp_path / "none"), "--listen", "0.1"])
    assert missing.exit_code == 2


def test_cli_rejects_an_option_of_another_protocol(make_sim: MakeSim):
    sim = make_sim("gy-mcu90614")
    result = CliRunner().invoke(
        thermometer, ["read", sim.port, "-p", "gy-mcu90614", "--slave", "3"]
    )
    assert result.exit_code == 2 and "not valid" in result.output
