"""Find out which supported protocol and baud rate a port answers with.

Every protocol in drivers/registry.py is tried, as its SPEC says: streaming protocols by
listening at each baud rate while feeding all their parsers at once (the SPECs' queries, e.g.
a GY-MCU90614's, are sent meanwhile, harmless to the others); query-only protocols (Modbus)
are then asked directly. ``listen_s`` per baud rate must cover an Arduino's ~2 s reset when
the port opens. Used by ``kiosk thermometer probe PORT``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import serial

from drivers.framing import Frame, FrameParser
from drivers.registry import SPECS, make_thermometer
from drivers.spec import ProtocolSpec
from drivers.thermometer import OPEN_ERRORS, POLL_S, PORT_ERRORS, PortUnavailable, SerialThermometer

#: Baud rates listened at, in order (factory defaults first).
LISTEN_BAUDS = (9600, 115200)
QUERY_EVERY_S = 0.3


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


Candidate = tuple[str, dict[str, Any], FrameParser, Callable[[Frame], bool]]


def _candidates(specs: Sequence[ProtocolSpec]) -> list[Candidate]:
    """A fresh parser for every way of listening, in registry order."""
    return [(spec.name, dict(way.options), way.parser(), way.plausible)
            for spec in specs for way in spec.listen]


def _listen(port: str, baud: int, listen_s: float, exclusive: bool,
            specs: Sequence[ProtocolSpec]) -> ProbeResult | None:
    try:
        link = serial.serial_for_url(port, baudrate=baud, timeout=POLL_S, exclusive=exclusive)
    except OPEN_ERRORS as exc:
        raise PortUnavailable(f"{port}: {exc}") from exc
    candidates = _candidates(specs)
    query = b"".join(spec.query for spec in specs)
    try:
        deadline = time.monotonic() + listen_s
        next_query = 0.0
        while time.monotonic() < deadline:
            if query and time.monotonic() >= next_query:
                link.write(query)
                next_query = time.monotonic() + QUERY_EVERY_S
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


def _ask(spec: ProtocolSpec, port: str, baud: int, options: dict[str, Any],
         exclusive: bool) -> ProbeResult | None:
    """Build the driver with ``options``, take one reading (0.3 s): did it answer?"""
    driver = spec.driver(port, baud, exclusive=exclusive, **options)
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
    return ProbeResult(spec.name, port, baud, options, sample)


def probe(
    port: str,
    *,
    listen_s: float = 2.5,
    bauds: Sequence[int] = LISTEN_BAUDS,
    exclusive: bool = True,
    specs: Sequence[ProtocolSpec] = SPECS,
) -> ProbeResult | None:
    """First protocol/baud that yields a valid frame on ``port``, or None if nothing answered.

    Raises PortUnavailable when the port cannot be opened at all. Takes up to
    ``len(bauds) * listen_s`` s plus ~0.4 s per option set and baud asked.
    """
    if any(spec.listen for spec in specs):
        for baud in bauds:
            found = _listen(port, baud, listen_s, exclusive, specs)
            if found is not None:
                return found
    for spec in specs:
        for baud in spec.ask_bauds:
            for options in spec.ask:
                found = _ask(spec, port, baud, dict(options), exclusive)
                if found is not None:
                    return found
    return None
