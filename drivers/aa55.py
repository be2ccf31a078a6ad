"""Kiosk body-temperature modules with frame header ``AA 55 06`` (115200 8N1, ~every 500 ms).

Frame: ``AA 55 06 B1 B2 SUM``, SUM = low byte of the sum of the first five bytes. Two
incompatible payload encodings share the header, so the encoding is configuration:
``binary`` (integer °C, tenths: ``24 07`` = 36.7 °C) or ``bcd`` (four digits, one decimal:
``03 70`` = 37.0 °C; every nibble must be <= 9). These modules report no ambient value.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from drivers.framing import FixedFrameParser, Frame, sum8
from drivers.spec import DriverOption, Listener, ProtocolSpec, SimDevice, SimFault, bad_sum
from drivers.thermometer import StreamThermometer

PROTOCOL = "aa55"
BAUD_RATES = (115200, 9600)
HEADER = b"\xaa\x55\x06"
FRAME_LENGTH = 6

Encoding = Literal["binary", "bcd"]
ENCODINGS: tuple[Encoding, ...] = ("binary", "bcd")


def _payload(value_c: float, encoding: Encoding) -> bytes:
    tenths = round(value_c * 10)
    if encoding == "binary":
        if not 0 <= tenths <= 255 * 10 + 9:
            raise ValueError(f"{value_c} °C does not fit the binary encoding")
        return bytes(divmod(tenths, 10))
    if not 0 <= tenths <= 9999:
        raise ValueError(f"{value_c} °C does not fit the BCD encoding")
    digits = f"{tenths:04d}"
    return bytes.fromhex(digits)


def encode_frame(value_c: float, encoding: Encoding = "binary") -> bytes:
    """``AA 55 06 B1 B2 SUM``: 36.7 °C binary -> ``AA 55 06 24 07 30``."""
    body = HEADER + _payload(value_c, encoding)
    return body + bytes((sum8(body),))


def _decode_payload(b1: int, b2: int, encoding: Encoding) -> float | None:
    if encoding == "binary":
        return None if b2 > 9 else round(b1 + b2 / 10, 1)
    nibbles = (b1 >> 4, b1 & 0xF, b2 >> 4, b2 & 0xF)
    if any(n > 9 for n in nibbles):
        return None
    return int("".join(map(str, nibbles))) / 10


def parse_frame(frame: bytes, encoding: Encoding = "binary") -> Frame | None:
    """Decode one 6-byte frame; None unless header, sum and the payload encoding check out."""
    if len(frame) != FRAME_LENGTH or frame[:3] != HEADER or sum8(frame[:5]) != frame[5]:
        return None
    value = _decode_payload(frame[3], frame[4], encoding)
    return None if value is None else Frame(value)


def frame_parser(encoding: Encoding = "binary") -> FixedFrameParser[Frame]:
    """Streaming, resyncing decoder (same rule as the GY-MCU90614: drop one byte on failure)."""
    decode: Callable[[bytes], Frame | None] = partial(parse_frame, encoding=encoding)
    return FixedFrameParser(HEADER, FRAME_LENGTH, decode)


class Aa55Thermometer(StreamThermometer):
    """Listens to an ``AA 55 06`` module (it streams by itself)."""

    protocol = PROTOCOL
    default_baud = BAUD_RATES[0]

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        encoding: Encoding = "binary",
        offset_c: float = 0.0,
        exclusive: bool = True,
    ) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}")
        self._encoding: Encoding = encoding
        super().__init__(port, baud, offset_c=offset_c, exclusive=exclusive)

    def _detail(self) -> str:
        return self._encoding

    def _make_parser(self) -> FixedFrameParser[Frame]:
        return frame_parser(self._encoding)


class SimulatedAa55(SimDevice):
    """The module as the simulator plays it: streams one frame every 0.5 s at 115200."""

    default_baud = 115200
    default_interval_s = 0.5

    def __init__(self, encoding: Encoding = "binary") -> None:
        super().__init__()
        self.streaming = True
        self.encoding: Encoding = encoding

    def frame(self, fault: SimFault | None) -> bytes:
        frame = encode_frame(self.object_c, self.encoding)
        return bad_sum(frame) if fault is SimFault.BAD_CHECKSUM else frame


#: a frame only counts when probing if its value is plausible (°C): the encodings share a header
PLAUSIBLE_C = (10.0, 60.0)


def _plausible(frame: Frame) -> bool:
    low, high = PLAUSIBLE_C
    return frame.object_c is not None and low <= frame.object_c <= high


SPEC = ProtocolSpec(
    name=PROTOCOL,
    driver=Aa55Thermometer,
    simulate=SimulatedAa55,
    listen=tuple(Listener({"encoding": e}, partial(frame_parser, e), _plausible)
                 for e in ENCODINGS),
    options=(DriverOption("encoding", "how the value is coded.", choices=ENCODINGS),),
)
