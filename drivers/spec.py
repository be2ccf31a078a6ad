"""What a thermometer protocol module declares about itself, in one ``SPEC``: its driver, how
``probe`` recognises it, how the simulator plays it, and its CLI options.

drivers/registry.py lists the SPECs; the driver factory, the probe, the simulator and the
``kiosk thermometer`` options are all derived from that list, so a new protocol is its module
plus one registry line (docs/ARCHITECTURE.md, recipe b). No I/O here and no click: the
device models are pure (bytes in, bytes out) and the CLI turns options into click options.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from drivers.framing import Frame, FrameParser
from drivers.thermometer import SerialThermometer


class SimFault(StrEnum):
    """Faults the simulated device can be told to produce on every frame it sends."""

    BAD_CHECKSUM = "bad_checksum"  # GY/AA55 sum, Modbus CRC wrong; text: mangled number
    WRONG_SLAVE = "wrong_slave"  # Modbus: reply from another address
    EXCEPTION = "exception"  # Modbus: exception reply (function | 0x80)
    SENSOR_ERROR = "sensor_error"  # Modbus status bit 0 (calex); text: "nan" line


class SimDevice(ABC):
    """A protocol's device behaviour for the simulator, with no I/O: input bytes in,
    (delay s, reply bytes) out, built from the protocol's own encoders."""

    default_baud = 9600
    default_interval_s = 0.1

    def __init__(self) -> None:
        self.object_c = 36.5
        self.ambient_c = 25.0
        self.baud = self.default_baud
        self.streaming = False

    def configure(self, *, baud: int | None = None, streaming: bool | None = None) -> None:
        """The device's own baud rate and whether it streams from power-up (None: as built)."""
        if baud is not None:
            self.baud = baud
        if streaming is not None:
            self.streaming = streaming

    def on_plug(self) -> bytes:
        """Power-up: returns what the device prints at boot."""
        return b""

    def on_input(self, data: bytes, fault: SimFault | None) -> list[tuple[float, bytes]]:
        del data, fault
        return []

    @abstractmethod
    def frame(self, fault: SimFault | None) -> bytes:
        """The current reading as the device sends it."""


def bad_sum(frame: bytes) -> bytes:
    """The frame with its last (checksum) byte off by one."""
    return frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))


def always(frame: Frame) -> bool:
    """Any frame the parser accepts counts (see Listener.plausible)."""
    del frame
    return True


@dataclass(frozen=True)
class Listener:
    """One way ``probe`` recognises a streaming protocol: a fresh parser fed every chunk heard;
    the first frame that is ``plausible`` names the protocol with ``options``."""

    options: Mapping[str, Any]
    parser: Callable[[], FrameParser]
    plausible: Callable[[Frame], bool] = always


@dataclass(frozen=True)
class DriverOption:
    """A driver keyword argument offered by ``kiosk thermometer read --<name>``."""

    name: str
    help: str
    choices: tuple[str, ...] = ()
    type: type = str


@dataclass(frozen=True)
class ProtocolSpec:
    """Everything the rest of the tree needs to know about one wire protocol.

    * ``listen``: how ``probe`` recognises it passively, and ``query``, bytes ``probe`` sends
      every 0.3 s meanwhile (harmless to the others); ``ask``: options to try actively, by
      building the driver at each of ``ask_bauds`` and taking one reading (query-only
      protocols such as Modbus);
    * ``simulate``: builds the simulated device from the simulator's keyword options;
    * ``options``: the driver keyword arguments the CLI offers.
    """

    name: str
    driver: type[SerialThermometer]
    simulate: Callable[..., SimDevice]
    listen: tuple[Listener, ...] = ()
    query: bytes = b""
    ask: tuple[Mapping[str, Any], ...] = ()
    ask_bauds: tuple[int, ...] = ()
    options: tuple[DriverOption, ...] = field(default=())
