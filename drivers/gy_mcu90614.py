"""GY-MCU90614 (MLX90614 + small MCU) binary protocol, TTL UART 9600 8N1 (some: 115200).

Host -> module: ``A5 CMD SUM``. Module -> host, 9 bytes: ``5A 5A 45 04 TOh TOl TAh TAl SUM``:
object and ambient temperature as big-endian signed int16 in 0.01 °C, SUM = low byte of the sum
of bytes 0..7. Query mode sends ``A5 15 BA`` per reading; continuous mode (``A5 45 EA``)
streams about 10-14 frames/s.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Literal

from drivers.framing import FixedFrameParser, Frame, FrameParser, sum8
from drivers.spec import DriverOption, Listener, ProtocolSpec, SimDevice, SimFault, bad_sum
from drivers.thermometer import StreamThermometer

PROTOCOL = "gy-mcu90614"
#: Tried in this order by the probe (factory default first).
BAUD_RATES = (9600, 115200)

HEADER = b"\x5a\x5a"
FRAME_TYPE_TEMPERATURE = 0x45
PAYLOAD_LENGTH = 4
FRAME_LENGTH = 9
COMMAND_START = 0xA5
COMMAND_LENGTH = 3
SCALE_C = 0.01  # °C per count
#: MLX90614 measuring ranges (datasheet), °C. A frame outside them is a false frame that
#: happened to pass the 8-bit sum (e.g. a truncated frame followed by a real one), not a reading.
OBJECT_RANGE_C = (-70.0, 380.0)
AMBIENT_RANGE_C = (-40.0, 125.0)

Mode = Literal["query", "continuous"]


class Command(IntEnum):
    """Second byte of a host command."""

    QUERY = 0x15  # one reading on request
    CONTINUOUS = 0x45  # stream about 10-14 frames/s
    BAUD_9600 = 0xAE  # takes effect after a power cycle
    BAUD_115200 = 0xAF
    AUTO_OUTPUT_ON = 0x51  # stream at power-up
    AUTO_OUTPUT_OFF = 0x52


def encode_command(command: int) -> bytes:
    """``A5 CMD SUM``, e.g. QUERY -> ``A5 15 BA``."""
    return bytes((COMMAND_START, command, (COMMAND_START + command) & 0xFF))


def parse_command(data: bytes) -> int | None:
    """The command byte of a 3-byte host command, or None if the checksum is wrong."""
    if len(data) != COMMAND_LENGTH or data[0] != COMMAND_START or sum8(data[:2]) != data[2]:
        return None
    return data[1]


def command_parser() -> FixedFrameParser[int]:
    """Streaming decoder of host commands (used by the simulated module)."""
    return FixedFrameParser(bytes((COMMAND_START,)), COMMAND_LENGTH, parse_command)


def _counts(value_c: float) -> int:
    counts = round(value_c / SCALE_C)
    if not -0x8000 <= counts <= 0x7FFF:
        raise ValueError(f"{value_c} °C does not fit a signed 16-bit 0.01 °C field")
    return counts


def encode_frame(object_c: float, ambient_c: float) -> bytes:
    """The 9-byte temperature frame, e.g. 37.00/26.00 °C -> ``5A 5A 45 04 0E 74 0A 28 B1``."""
    body = (
        HEADER
        + bytes((FRAME_TYPE_TEMPERATURE, PAYLOAD_LENGTH))
        + struct.pack(">hh", _counts(object_c), _counts(ambient_c))
    )
    return body + bytes((sum8(body),))


def parse_frame(frame: bytes) -> Frame | None:
    """Decode one 9-byte frame; None unless header, type, length, sum and the sensor's
    measuring ranges all check out."""
    if (
        len(frame) != FRAME_LENGTH
        or frame[:2] != HEADER
        or frame[2] != FRAME_TYPE_TEMPERATURE
        or frame[3] != PAYLOAD_LENGTH
        or sum8(frame[:8]) != frame[8]
    ):
        return None
    object_counts, ambient_counts = struct.unpack(">hh", frame[4:8])
    object_c, ambient_c = round(object_counts * SCALE_C, 2), round(ambient_counts * SCALE_C, 2)
    if not (
        OBJECT_RANGE_C[0] <= object_c <= OBJECT_RANGE_C[1]
        and AMBIENT_RANGE_C[0] <= ambient_c <= AMBIENT_RANGE_C[1]
    ):
        return None
    return Frame(object_c, ambient_c)


def frame_parser() -> FixedFrameParser[Frame]:
    """Streaming, resyncing decoder of module frames (find 5A 5A, check, else drop one byte)."""
    return FixedFrameParser(HEADER, FRAME_LENGTH, parse_frame)


class GyMcu90614(StreamThermometer):
    """Driver for the GY-MCU90614 module.

    ``mode="query"`` asks for each reading (NO_TARGET when the module stays silent);
    ``mode="continuous"`` sends ``A5 45 EA`` at open and then only listens.
    """

    protocol = PROTOCOL
    default_baud = BAUD_RATES[0]
    alternate_bauds = BAUD_RATES  # some batches ship at 115200: try the other rate

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        mode: Mode = "query",
        offset_c: float = 0.0,
        exclusive: bool = True,
        query_interval_s: float = 0.1,
    ) -> None:
        if mode not in ("query", "continuous"):
            raise ValueError(f"unknown mode {mode!r}")
        self._mode: Mode = mode
        super().__init__(
            port, baud, offset_c=offset_c, exclusive=exclusive, query_interval_s=query_interval_s
        )

    def _detail(self) -> str:
        return self._mode

    def _make_parser(self) -> FrameParser:
        return frame_parser()

    def _after_open(self) -> None:
        super()._after_open()
        if self._mode == "continuous":
            self._write(encode_command(Command.CONTINUOUS))

    def _request(self) -> bytes | None:
        return encode_command(Command.QUERY) if self._mode == "query" else None


class SimulatedGy(SimDevice):
    """The module as the simulator plays it: answers queries, streams after ``A5 45 EA`` or
    with auto-output saved, and takes a new baud rate at the next power cycle."""

    default_interval_s = 0.08  # ~12.5 frames/s

    def __init__(self) -> None:
        super().__init__()
        self._commands = command_parser()
        self.auto_output = False
        self._baud_after_power_cycle = self.baud

    def configure(self, *, baud: int | None = None, streaming: bool | None = None) -> None:
        super().configure(baud=baud, streaming=streaming)
        if baud is not None:
            self._baud_after_power_cycle = baud
        if streaming is not None:
            self.auto_output = streaming

    def on_plug(self) -> bytes:
        self._commands.reset()
        self.streaming = self.auto_output
        self.baud = self._baud_after_power_cycle
        return b""

    def on_input(self, data: bytes, fault: SimFault | None) -> list[tuple[float, bytes]]:
        replies: list[tuple[float, bytes]] = []
        for code in self._commands.feed(data):
            if code == Command.QUERY:
                replies.append((0.0, self.frame(fault)))
            elif code == Command.CONTINUOUS:
                self.streaming = True
            elif code in (Command.AUTO_OUTPUT_ON, Command.AUTO_OUTPUT_OFF):
                self.auto_output = code == Command.AUTO_OUTPUT_ON
            elif code in (Command.BAUD_9600, Command.BAUD_115200):
                self._baud_after_power_cycle = 9600 if code == Command.BAUD_9600 else 115200
        return replies

    def frame(self, fault: SimFault | None) -> bytes:
        frame = encode_frame(self.object_c, self.ambient_c)
        return bad_sum(frame) if fault is SimFault.BAD_CHECKSUM else frame


SPEC = ProtocolSpec(
    name=PROTOCOL,
    driver=GyMcu90614,
    simulate=SimulatedGy,
    listen=(Listener({"mode": "query"}, frame_parser),),
    query=encode_command(Command.QUERY),
    options=(DriverOption("mode", "query: ask for each reading; continuous: let it stream.",
                          choices=("query", "continuous")),),
)
