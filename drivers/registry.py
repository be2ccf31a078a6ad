"""The thermometer protocols, ONE list: each protocol module's SPEC (drivers/spec.py).

The driver factory below, ``probe``, the simulator and the ``kiosk thermometer`` options are
derived from this list; a new protocol is its module plus one line here (docs/ARCHITECTURE.md,
recipe b), and tests/drivers/test_drivers_registry.py checks that each listed protocol is
probed, simulated and offered by the CLI.
"""

from __future__ import annotations

from typing import Any

from drivers import aa55, gy_mcu90614, modbus_rtu, text_lines
from drivers.spec import ProtocolSpec
from drivers.thermometer import SerialThermometer

SPECS: tuple[ProtocolSpec, ...] = (
    gy_mcu90614.SPEC,
    modbus_rtu.SPEC,
    text_lines.SPEC,
    aa55.SPEC,
)
BY_NAME: dict[str, ProtocolSpec] = {spec.name: spec for spec in SPECS}
DRIVERS: dict[str, type[SerialThermometer]] = {spec.name: spec.driver for spec in SPECS}
PROTOCOLS: tuple[str, ...] = tuple(BY_NAME)


def spec_for(protocol: str) -> ProtocolSpec:
    """The SPEC of ``protocol``; ValueError naming the known ones otherwise."""
    try:
        return BY_NAME[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}") from None


def make_thermometer(
    protocol: str, port: str, *, baud: int | None = None, **options: Any
) -> SerialThermometer:
    """Build (not open) the driver for ``protocol`` on ``port`` (a path or pyserial URL).

    ``options`` are the driver's keyword arguments, e.g. ``mode="continuous"`` (gy-mcu90614),
    ``model="calex", slave=1`` (modbus-rtu), ``pattern=...`` (text-lines),
    ``encoding="bcd"`` (aa55), ``offset_c=0.5`` (all).
    """
    return spec_for(protocol).driver(port, baud, **options)
