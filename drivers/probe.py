"""Find out which supported protocol and baud rate a port answers with.

Passive protocols are found by listening at each baud rate while feeding every streaming
parser at once (a GY-MCU90614 query is sent meanwhile, harmless to the others); Modbus models
are then asked directly. ``listen_s`` per baud rate must cover an Arduino's ~2 s reset when the
port opens. Used by ``kiosk thermometer probe PORT``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import serial

from drivers import aa55, gy_mcu90614, modbus_rtu, text_lines
from drivers.framing import Frame, FrameParser
from drivers.registry import make_thermometer
from drivers.thermometer import OPEN_ERRORS, POLL_S, PORT_ERRORS, PortUnavailable, SerialThermometer

#: Baud rates listened at, in order (factory defaults first).
LISTEN_BAUDS = (9600, 115200)
#: AA 55 06 encodings share a header; a frame only counts if its value is plausible (°C).
AA55_PLAUSIBLE_C = (10.0, 60.0)
GY_QUERY_EVERY_S = 0.3


@dataclass(frozen=True)
class ProbeResult:
    """What answered: enough to build the driver (``make_thermometer()``)."""

    protocol: str
    port: str
    baud: int
    options: dict[str, Any] = field(default_factory=dict)
    sample: Frame | None = None

    def make_thermometer(self, **extra: Any) -> SerialThermometer:
        return make_thermometer(self.protocol, self.port, baud=self.baud, **self.options, **extra)

    def __str__(self) -> str:
        opts = " ".join(f"{key}={value}" for key, value in self.options.items())
        sample = ""
        if self.sample is not None:
            sample = f" object={self.sample.object_c} ambient={self.sample.ambient_c}"
        return f"protocol={self.protocol} baud={self.baud}{' ' + opts if opts else ''}{sample}"


def _aa55_plausible(frame: Frame) -> bool:
    low, high = AA55_PLAUSIBLE_C
    return frame.object_c is not None and low <= frame.object_c <= high


def _candidates() -> list[tuple[str, dict[str, Any], FrameParser, Callable[[Frame], bool]]]:
    def always(frame: Frame) -> bool:
        return True

    return [
        (gy_mcu90614.PROTOCOL, {"mode": "query"}, gy_mcu90614.frame_parser(), always),
        (text_lines.PROTOCOL, {}, text_lines.TextLineParser(), always),
        (aa55.PROTOCOL, {"encoding": "binary"}, aa55.frame_parser("binary"), _aa55_plausible),
        (aa55.PROTOCOL, {"encoding": "bcd"}, aa55.frame_parser("bcd"), _aa55_plausible),
    ]


def _listen(port: str, baud: int, listen_s: float, exclusive: bool) -> ProbeResult | None:
    try:
        link = serial.serial_for_url(port, baudrate=baud, timeout=POLL_S, exclusive=exclusive)
    except OPEN_ERRORS as exc:
        raise PortUnavailable(f"{port}: {exc}") from exc
    candidates = _candidates()
    query = gy_mcu90614.encode_command(gy_mcu90614.Command.QUERY)
    try:
        deadline = time.monotonic() + listen_s
        next_query = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_query:
                link.write(query)
                next_query = time.monotonic() + GY_QUERY_EVERY_S
            chunk = link.read(max(1, link.in_waiting))
            if not chunk:
                continue
            for protocol, options, parser, plausible in candidates:
                for frame in parser.feed(chunk):
                    if plausible(frame):
                        return ProbeResult(protocol, port, baud, options, frame)
        return None
    except PORT_ERRORS as exc:
        raise PortUnavailable(f"{port}: {exc}") from exc
    finally:
        link.close()


def _ask_modbus(
    port: str, baud: int, model: str, slave: int, exclusive: bool
) -> ProbeResult | None:
    driver = modbus_rtu.ModbusThermometer(
        port, baud, model=model, slave=slave, exclusive=exclusive, reply_timeout_s=0.3
    )
    driver.open()
    try:
        reading = driver.next_reading(0.3)
    except PORT_ERRORS as exc:
        raise PortUnavailable(f"{port}: {exc}") from exc
    finally:
        driver.close()
    if reading is None or reading.object_c is None:  # silent, corrupt or exception reply
        return None
    sample = Frame(reading.object_c, reading.ambient_c)
    return ProbeResult(modbus_rtu.PROTOCOL, port, baud, {"model": model, "slave": slave}, sample)


def probe(
    port: str,
    *,
    listen_s: float = 2.5,
    bauds: Sequence[int] = LISTEN_BAUDS,
    modbus_bauds: Sequence[int] = modbus_rtu.BAUD_RATES,
    modbus_slaves: Sequence[int] = (1,),
    exclusive: bool = True,
) -> ProbeResult | None:
    """First protocol/baud that yields a valid frame on ``port``, or None if nothing answered.

    Raises PortUnavailable when the port cannot be opened at all. Takes up to
    ``len(bauds) * listen_s`` s plus ~0.4 s per Modbus model, baud and slave tried.
    """
    for baud in bauds:
        found = _listen(port, baud, listen_s, exclusive)
        if found is not None:
            return found
    for baud in modbus_bauds:
        for slave in modbus_slaves:
            for model in modbus_rtu.MODELS:
                found = _ask_modbus(port, baud, model, slave, exclusive)
                if found is not None:
                    return found
    return None
