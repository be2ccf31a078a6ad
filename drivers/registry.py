"""Protocol name -> driver class, so configuration and the CLI can name a driver by string."""

from __future__ import annotations

from typing import Any

from drivers import aa55, gy_mcu90614, modbus_rtu, text_lines
from drivers.thermometer import SerialThermometer

DRIVERS: dict[str, type[SerialThermometer]] = {
    gy_mcu90614.PROTOCOL: gy_mcu90614.GyMcu90614,
    modbus_rtu.PROTOCOL: modbus_rtu.ModbusThermometer,
    text_lines.PROTOCOL: text_lines.TextLinesThermometer,
    aa55.PROTOCOL: aa55.Aa55Thermometer,
}
PROTOCOLS: tuple[str, ...] = tuple(DRIVERS)


def make_thermometer(
    protocol: str, port: str, *, baud: int | None = None, **options: Any
) -> SerialThermometer:
    """Build (not open) the driver for ``protocol`` on ``port`` (a path or pyserial URL).

    ``options`` are the driver's keyword arguments, e.g. ``mode="continuous"`` (gy-mcu90614),
    ``model="calex", slave=1`` (modbus-rtu), ``pattern=...`` (text-lines),
    ``encoding="bcd"`` (aa55), ``offset_c=0.5`` (all).
    """
    try:
        driver = DRIVERS[protocol]
    except KeyError:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}") from None
    return driver(port, baud, **options)
