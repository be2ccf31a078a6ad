"""Framing helpers shared by every wire-protocol module.

Pure code, no I/O: parsers are fed byte chunks as they arrive (like pyserial's threaded
``Packetizer``/``LineReader``) and return whole decoded messages, so the same parser serves the
driver, the probe, the simulator and the unit tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded device message.

    Temperatures are °C as the device sent them (no offset). ``fault`` names a failure the
    device itself reported (status bit, ``nan`` line, exception reply); the values are then
    not a temperature and the driver turns the frame into a SENSOR_ERROR reading.
    """

    object_c: float | None
    ambient_c: float | None = None
    fault: str | None = None


class FrameParser(Protocol):
    """A streaming decoder: bytes in, complete valid frames out; never raises on bad input."""

    def feed(self, data: bytes) -> list[Frame]: ...

    def reset(self) -> None: ...


def sum8(data: bytes) -> int:
    """Low byte of the arithmetic sum: the checksum used by the GY-MCU90614 and AA 55 frames."""
    return sum(data) & 0xFF


class FixedFrameParser(Generic[T]):
    """Resyncing decoder for fixed-length binary frames that start with a known header.

    Rule (THERMOMETERS.md): find the header, wait for a whole frame, let ``decode`` check it
    (type, length, checksum); on failure drop ONE byte and search again, so a frame hidden
    behind garbage or a false header is never lost and a corrupt frame is never accepted.
    ``dropped`` counts discarded bytes (a hint of wrong baud or wrong protocol).
    """

    def __init__(
        self,
        header: bytes,
        length: int,
        decode: Callable[[bytes], T | None],
    ) -> None:
        if not header or length < len(header):
            raise ValueError("header must be non-empty and shorter than the frame")
        self._header = header
        self._length = length
        self._decode = decode
        self._buf = bytearray()
        self.dropped = 0

    def reset(self) -> None:
        """Forget a partial frame (after reconnecting, the old bytes mean nothing)."""
        self._buf.clear()

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self.dropped += count

    def feed(self, data: bytes) -> list[T]:
        """Add received bytes; return every complete valid frame now in the buffer, in order."""
        self._buf += data
        found: list[T] = []
        while True:
            start = self._buf.find(self._header)
            if start < 0:
                # Keep a tail that could be the beginning of a header split across chunks.
                self._drop(max(0, len(self._buf) - (len(self._header) - 1)))
                break
            if start:
                self._drop(start)
            if len(self._buf) < self._length:
                break
            decoded = self._decode(bytes(self._buf[: self._length]))
            if decoded is None:
                self._drop(1)
                continue
            del self._buf[: self._length]
            found.append(decoded)
        return found


class LineSplitter:
    """Split a byte stream into lines at LF (a trailing CR is stripped), like ``LineReader``.

    A line longer than ``max_line`` bytes without a newline is garbage (wrong baud, binary
    device) and is discarded rather than buffered forever.
    """

    def __init__(self, *, max_line: int = 256) -> None:
        self._max_line = max_line
        self._buf = bytearray()
        self.dropped = 0

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines: list[bytes] = []
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                break
            lines.append(bytes(self._buf[:end]).rstrip(b"\r"))
            del self._buf[: end + 1]
        if len(self._buf) > self._max_line:
            self.dropped += len(self._buf)
            self._buf.clear()
        return lines
