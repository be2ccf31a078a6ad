"""A protocol is its module plus one line in drivers/registry.py: every registered protocol is
simulated, found by probe and offered by ``kiosk thermometer read``, with nothing else to edit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from drivers_testkit import make_sim_fixture  # noqa: F401 - fixture

from drivers.cli import thermometer
from drivers.probe import probe
from drivers.registry import PROTOCOLS, SPECS, spec_for
from drivers.simulator import SIM_PROTOCOLS, SimulatedThermometer

MakeSim = Callable[..., SimulatedThermometer]


def test_the_simulator_and_the_cli_take_every_registered_protocol():
    assert SIM_PROTOCOLS == PROTOCOLS == tuple(s.name for s in SPECS)
    help_text = CliRunner().invoke(thermometer, ["read", "--help"]).output
    for spec in SPECS:
        assert spec.name in help_text
        assert spec.listen or spec.ask, f"{spec.name}: probe has no way to find it"
        for opt in spec.options:
            assert f"--{opt.name.replace('_', '-')}" in help_text, (spec.name, opt.name)
    with pytest.raises(ValueError, match="known: gy-mcu90614"):
        spec_for("no-such-protocol")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_registered_protocol_is_simulated_probed_and_read_by_the_cli(
        make_sim: MakeSim, protocol: str):
    sim = make_sim(protocol, interval_s=0.05)  # its SPEC's device model, on a pty
    sim.set_temperature(36.5, ambient=24.0)  # exact at every protocol's resolution
    found = probe(sim.port, listen_s=0.5)
    assert found is not None and found.protocol == protocol, found
    args = ["read", sim.port, "--protocol", protocol, "--baud", str(found.baud), "--count", "1"]
    for key, value in found.options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    result = CliRunner().invoke(thermometer, args)
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [cells[:2] for cells in lines if cells[0] == "valid"] == [["valid", "36.50"]]
