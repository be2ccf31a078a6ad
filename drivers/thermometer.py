"""The one interface every thermometer driver offers, and the serial plumbing they share.

The gate core only knows :class:`kiosk.core.screening.Reading`; drivers build them with
``make_reading`` so every protocol is classified the same way. Times are ``time.monotonic()``
seconds, temperatures °C.
"""

from __future__ import annotations

import dataclasses
import math
import termios
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

import serial

from drivers.framing import Frame, FrameParser
from kiosk.core.event import DEVICE_NAME_MAX
from kiosk.core.screening import Reading, ReadingState, make_reading

#: Serial read timeout (s) of the stream drivers: the granularity of deadlines and cancel.
POLL_S = 0.05

#: What a vanished port raises: pyserial's SerialException is an OSError, ioctl/tcflush on a
#: hung-up tty raise OSError or termios.error.
PORT_ERRORS = (OSError, termios.error)
#: What opening a port can raise besides PORT_ERRORS: a malformed URL or setting.
OPEN_ERRORS = (ValueError, OSError, termios.error)


class ThermometerError(Exception):
    """Base class of driver errors the reader thread handles (never a bad reading)."""


class PortUnavailable(ThermometerError):
    """The port could not be opened: missing (unplugged), busy or not a serial device."""


class DeviceGone(ThermometerError):
    """The open port failed mid-use: the USB adapter was pulled or the pty closed."""


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Which device a reading came from; recorded with every reading."""

    protocol: str
    port: str
    baud: int
    detail: str = ""  # e.g. "slave 1, model mq485a"

    def __str__(self) -> str:
        text = f"{self.port}@{self.baud}"
        text = f"{text} ({self.detail})" if self.detail else text
        if len(text) <= DEVICE_NAME_MAX:
            return text
        # a long /dev/serial/by-id/... path would make every event refused at the store: its
        # end (the adapter's serial, the port, baud and mode) is what tells devices apart
        return "…" + text[len(text) - DEVICE_NAME_MAX + 1:]


@dataclass(slots=True)
class LinkStats:
    """Traffic counters since the last open(); the reader derives its state from them."""

    opened_monotonic: float = 0.0
    bytes_in: int = 0
    frames_ok: int = 0
    last_byte_monotonic: float | None = None
    last_frame_monotonic: float | None = None

    def saw_bytes(self, count: int, now: float) -> None:
        self.bytes_in += count
        self.last_byte_monotonic = now

    def saw_frame(self, now: float) -> None:
        self.frames_ok += 1
        self.last_frame_monotonic = now


@runtime_checkable
class Thermometer(Protocol):
    """What the reader thread, the probe and the CLI need from any thermometer."""

    @property
    def identity(self) -> DeviceIdentity: ...

    @property
    def stats(self) -> LinkStats: ...

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None:
        """Open the port (raises PortUnavailable) and put the device in its reading mode."""

    def close(self) -> None:
        """Close the port; safe to call twice or after the device vanished."""

    def next_reading(self, timeout_s: float) -> Reading | None:
        """Wait at most ``timeout_s`` s for the next reading (raises DeviceGone).

        Query-mode devices return a NO_TARGET reading when nothing answered in time; streaming
        devices return None. Corrupt frames are dropped, never returned.
        """

    def cancel(self) -> None:
        """Make a blocked next_reading() return early; callable from another thread."""


def readings(thermometer: Thermometer, *, timeout_s: float = 1.0) -> Iterator[Reading]:
    """Endless stream of readings from an open thermometer (the caller stops iterating)."""
    while True:
        reading = thermometer.next_reading(timeout_s)
        if reading is not None:
            yield reading


def fault_reading(
    object_c: float | None,
    *,
    ambient_c: float | None,
    device: str,
    protocol: str,
    taken_monotonic: float,
) -> Reading:
    """A SENSOR_ERROR reading: the device said its value is bad, so nothing is ``used``.

    Raw values are kept when they are finite numbers (recorded, never screened).
    """

    def finite(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    base = make_reading(
        finite(object_c),
        ambient_c=finite(ambient_c),
        device=device,
        protocol=protocol,
        taken_monotonic=taken_monotonic,
    )
    return dataclasses.replace(base, state=ReadingState.SENSOR_ERROR, used_c=None)


class SerialThermometer(ABC):
    """Shared serial plumbing: open by URL, identity, stats, frame -> Reading.

    Ports are opened with ``serial.serial_for_url`` so ``loop://``, ``socket://`` and
    ``spy://`` work as well as ``/dev/ttyUSB0``. ``offset_c`` is the configured
    forehead-to-body offset (°C) passed to ``make_reading``.
    """

    protocol: ClassVar[str]
    default_baud: ClassVar[int] = 9600
    #: other rates this protocol ships at; the reader tries them when nothing valid arrives
    alternate_bauds: ClassVar[tuple[int, ...]] = ()

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        offset_c: float = 0.0,
        exclusive: bool = True,
        read_timeout_s: float = POLL_S,
    ) -> None:
        self._port = port
        self._baud = baud or self.default_baud
        self._configured_baud = self._baud
        self._offset_c = offset_c
        self._exclusive = exclusive
        self._read_timeout_s = read_timeout_s
        self._serial: serial.SerialBase | None = None
        self._stats = LinkStats()
        self._cancelled = False

    def try_next_baud(self) -> bool:
        """Switch to the next rate this protocol ships at (the configured one first, then
        the alternates, round and round); False when there is no other. Takes effect at the
        next open()."""
        rates = list(dict.fromkeys((self._configured_baud, *self.alternate_bauds)))
        if len(rates) < 2:
            return False
        i = rates.index(self._baud) if self._baud in rates else -1
        self._baud = rates[(i + 1) % len(rates)]
        return True

    # -- identity ---------------------------------------------------------------------------

    def _detail(self) -> str:
        return ""

    @property
    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(self.protocol, self._port, self._baud, self._detail())

    @property
    def stats(self) -> LinkStats:
        return self._stats

    @property
    def is_open(self) -> bool:
        return self._serial is not None and bool(self._serial.is_open)

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        self.close()
        self._cancelled = False
        try:
            self._serial = serial.serial_for_url(
                self._port,
                baudrate=self._baud,
                timeout=self._read_timeout_s,
                write_timeout=1.0,
                exclusive=self._exclusive,
            )
        except OPEN_ERRORS as exc:
            raise PortUnavailable(f"{self._port}: {exc}") from exc
        self._stats = LinkStats(opened_monotonic=time.monotonic())
        try:
            self._after_open()
        except (DeviceGone, OSError, termios.error) as exc:
            self.close()
            raise PortUnavailable(f"{self._port}: {exc}") from exc

    def _after_open(self) -> None:  # noqa: B027 - optional hook
        """Hook: put the device in reading mode (send a command, reset the parser)."""

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except PORT_ERRORS:
                pass

    def cancel(self) -> None:
        self._cancelled = True
        port = self._serial
        cancel_read = getattr(port, "cancel_read", None)
        if cancel_read is not None:
            try:
                cancel_read()
            except PORT_ERRORS:
                pass

    def _port_or_gone(self) -> serial.SerialBase:
        if self._serial is None:
            raise DeviceGone(f"{self._port}: port is not open")
        return self._serial

    def _write(self, data: bytes) -> None:
        try:
            self._port_or_gone().write(data)
        except PORT_ERRORS as exc:
            raise DeviceGone(f"{self._port}: {exc}") from exc

    # -- readings ---------------------------------------------------------------------------

    def _reading(self, frame: Frame, taken_monotonic: float) -> Reading:
        device = str(self.identity)
        if frame.fault is not None:
            return fault_reading(
                frame.object_c,
                ambient_c=frame.ambient_c,
                device=device,
                protocol=self.protocol,
                taken_monotonic=taken_monotonic,
            )
        return make_reading(
            frame.object_c,
            ambient_c=frame.ambient_c,
            offset_c=self._offset_c,
            device=device,
            protocol=self.protocol,
            taken_monotonic=taken_monotonic,
        )

    def _no_target(self) -> Reading:
        return make_reading(
            None,
            device=str(self.identity),
            protocol=self.protocol,
            taken_monotonic=time.monotonic(),
        )

    @abstractmethod
    def next_reading(self, timeout_s: float) -> Reading | None: ...


@dataclass(slots=True)
class _Pacer:
    """Keeps query-mode requests at least ``interval_s`` seconds apart (don't flood the MCU)."""

    interval_s: float
    last: float = field(default=-1e9)

    def wait(self) -> None:
        delay = self.last + self.interval_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.last = time.monotonic()


class StreamThermometer(SerialThermometer):
    """A device whose replies are decoded by a streaming :class:`FrameParser`.

    In query mode (``_request()`` returns bytes) each next_reading() sends one request and
    waits for a frame; silence until the deadline gives a NO_TARGET reading. In streaming mode
    it only listens and returns None on silence. ``taken_monotonic`` is the time the chunk that
    completed the frame was read.
    """

    def __init__(
        self,
        port: str,
        baud: int | None = None,
        *,
        offset_c: float = 0.0,
        exclusive: bool = True,
        query_interval_s: float = 0.1,
    ) -> None:
        super().__init__(port, baud, offset_c=offset_c, exclusive=exclusive)
        self._parser = self._make_parser()
        self._pending: deque[Reading] = deque()
        self._pacer = _Pacer(query_interval_s)

    @abstractmethod
    def _make_parser(self) -> FrameParser: ...

    def _request(self) -> bytes | None:
        """Bytes that ask for one reading, or None for a device that streams by itself."""
        return None

    def _after_open(self) -> None:
        self._parser.reset()
        self._pending.clear()

    def _read_chunk(self) -> bytes:
        port = self._port_or_gone()
        try:
            data = port.read(1)
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
            return bytes(data)
        except PORT_ERRORS as exc:
            raise DeviceGone(f"{self._port}: {exc}") from exc

    def next_reading(self, timeout_s: float) -> Reading | None:
        if self._pending:
            return self._pending.popleft()
        request = self._request()
        if request is not None:
            self._pacer.wait()
            self._write(request)
        deadline = time.monotonic() + timeout_s
        while not self._pending and not self._cancelled and time.monotonic() < deadline:
            chunk = self._read_chunk()
            if not chunk:
                continue
            now = time.monotonic()
            self._stats.saw_bytes(len(chunk), now)
            for frame in self._parser.feed(chunk):
                self._stats.saw_frame(now)
                self._pending.append(self._reading(frame, now))
        if self._pending:
            return self._pending.popleft()
        if request is None or self._cancelled:
            return None
        return self._no_target()
