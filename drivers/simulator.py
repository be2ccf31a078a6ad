"""Simulated thermometers on a pseudo-terminal: the driver under test cannot tell them from
hardware, because they speak the exact bytes of THERMOMETERS.md through a real tty.

The host side is a stable symlink (``.port``) to the pty slave, like ``/dev/ttyUSB0``.
Unplug closes the pty and removes the link (the driver's next read fails, as with a pulled USB
adapter); re-plug creates a new pty behind the same link. A pty does not enforce baud rate,
so the device reads the rate the host configured on the tty and, when it differs from its own,
garbles what it sends and ignores what it receives - as a real UART would. It runs in its own
thread; every public method is thread-safe and returns once the device has applied it.

Used by the tests, the benchmark and the demo kiosk::

    sim = SimulatedThermometer(protocol="gy-mcu90614")
    sim.start()
    sim.set_temperature(37.0, ambient=26.0)
    ...  # open sim.port with any driver
    sim.stop()
"""

from __future__ import annotations

import logging
import os
import queue
import select
import shutil
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers import gy_mcu90614
from drivers.registry import PROTOCOLS, spec_for
from drivers.spec import SimDevice, SimFault

log = logging.getLogger(__name__)

_BAUD_BY_CONSTANT: dict[int, int] = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
    if hasattr(termios, f"B{rate}")
}


def garble(data: bytes) -> bytes:
    """What bytes look like at the wrong baud rate. Every output byte has bit 7 set, so it can
    never form a header (5A, AA 55 06), a newline or a Modbus slave address 1..127."""
    return bytes((((b * 7) & 0xFF) ^ 0x5A) | 0x80 for b in data)


class PtyPort:
    """A pseudo-terminal behind a stable symlink ``link``: the device holds the master side."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def fileno(self) -> int:
        if self._master is None:
            raise OSError("unplugged")
        return self._master

    def plug(self) -> None:
        """New pty (raw at once, so no byte is ever translated) and point the link at it."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        """Remove the link and close the pty: the host's reads and writes start failing."""
        self.link.unlink(missing_ok=True)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def host_baud(self) -> int | None:
        """The baud rate the host configured on the tty (None if unknown)."""
        if self._slave is None:
            return None
        try:
            return _BAUD_BY_CONSTANT.get(termios.tcgetattr(self._slave)[4])
        except termios.error:
            return None

    def write(self, data: bytes) -> None:
        """Write to the host; bytes nobody reads are dropped when the pty buffer is full."""
        if self._master is None:
            return
        try:
            os.write(self._master, data)
        except OSError:  # BlockingIOError (buffer full) or EIO: like a UART with no listener
            pass

    def read(self) -> bytes:
        if self._master is None:
            return b""
        try:
            return os.read(self._master, 4096)
        except OSError:
            return b""


#: the protocols the simulator can play: all of drivers/registry.py
SIM_PROTOCOLS = PROTOCOLS


class SimulatedThermometer:
    """One simulated device of ``protocol`` on its own pty, driven by its own thread.

    ``baud``: the device's own rate (a host opening at another rate sees garbage).
    ``interval_s``: seconds between frames when streaming. ``streaming``: start streaming at
    power-up (GY: auto-output; text and aa55 always stream). ``device_options`` go to the
    protocol's device model (its SPEC's ``simulate``): ``model``/``slave`` (Modbus),
    ``encoding`` (aa55), ``boot_text`` (text-lines). ``split``: write every frame in chunks
    of this many bytes, ``split_gap_s`` apart. ``link_dir``: where the port symlink lives
    (default: a temp dir).

    SimFault and SimDevice live in drivers/spec.py (the protocol modules' device models use
    them); SimFault is importable from here too.
    """

    def __init__(
        self,
        protocol: str = gy_mcu90614.PROTOCOL,
        *,
        baud: int | None = None,
        interval_s: float | None = None,
        streaming: bool | None = None,
        split: int | None = None,
        split_gap_s: float = 0.002,
        link_dir: str | os.PathLike[str] | None = None,
        **device_options: Any,
    ) -> None:
        self.protocol = protocol
        self._device: SimDevice = spec_for(protocol).simulate(**device_options)
        self._device.configure(baud=baud, streaming=streaming)
        self._interval_s = interval_s or self._device.default_interval_s
        self._split = split
        self._split_gap_s = split_gap_s
        self._own_dir = link_dir is None
        directory = Path(link_dir) if link_dir is not None else Path(tempfile.mkdtemp("-sim-tty"))
        self._pty = PtyPort(directory / f"{protocol}-tty")
        self._fault: SimFault | None = None
        self._silent = False
        self._outbox: list[tuple[float, bytes]] = []  # (due monotonic s, bytes)
        self._next_stream = 0.0
        self._commands: queue.Queue[tuple[Callable[[], object], threading.Event]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.frames_sent = 0
        self.received = bytearray()

    # -- public API (any thread) -------------------------------------------------------------

    @property
    def port(self) -> str:
        """Path the host opens (a symlink to the current pty slave)."""
        return str(self._pty.link)

    @property
    def baud(self) -> int:
        return self._device.baud

    @property
    def plugged(self) -> bool:
        return self._pty.plugged

    def start(self) -> SimulatedThermometer:
        """Plug in (power up) and start the device thread."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._plug()
        self._thread = threading.Thread(target=self._run, name=f"sim {self.protocol}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, unplug, remove the temp dir. Safe to call twice."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._pty.plugged:
            self._pty.unplug()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1
        if self._own_dir:
            shutil.rmtree(self._pty.link.parent, ignore_errors=True)

    def __enter__(self) -> SimulatedThermometer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Pull the cable: the pty closes and the port path disappears."""
        self._call(self._pty.unplug)

    def replug(self) -> None:
        """Plug back in: a new pty behind the same path, the device powers up again."""
        self._call(self._plug)

    def set_temperature(self, object_c: float, ambient: float | None = None) -> None:
        """Temperatures (°C) the next frames report; ``nan`` makes a text device print nan."""

        def apply() -> None:
            self._device.object_c = object_c
            if ambient is not None:
                self._device.ambient_c = ambient

        self._call(apply)

    def set_fault(self, fault: SimFault | str | None) -> None:
        """Corrupt every following frame this way (None: healthy again)."""
        value = None if fault is None else SimFault(fault)
        self._call(lambda: setattr(self, "_fault", value))

    def silence(self, silent: bool = True) -> None:
        """Stop answering and streaming (a module that hangs or a sensor in query mode)."""
        self._call(lambda: setattr(self, "_silent", silent))

    def set_streaming(self, streaming: bool) -> None:
        """Start or stop unsolicited frames (GY: as if ``A5 45 EA`` had been received)."""
        self._call(lambda: setattr(self._device, "streaming", streaming))

    def set_split(self, chunk: int | None, gap_s: float = 0.002) -> None:
        """Write every frame in ``chunk``-byte pieces ``gap_s`` seconds apart (None: whole)."""

        def apply() -> None:
            self._split, self._split_gap_s = chunk, gap_s

        self._call(apply)

    def inject(self, data: bytes, *, chunk: int | None = None) -> float:
        """Write raw bytes now (garbage, hand-made bad frames, boot text), optionally in
        ``chunk``-byte pieces. Returns time.monotonic() just after the last byte was written."""
        done: list[float] = []
        self._call(lambda: done.append(self._send(data, chunk)))
        return done[0] if done else time.monotonic()

    # -- device thread -----------------------------------------------------------------------

    def _call(self, action: Callable[[], object]) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            action()
            return
        finished = threading.Event()
        self._commands.put((action, finished))
        self._wake()
        if not finished.wait(5.0):
            raise TimeoutError("simulator thread did not respond")

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _plug(self) -> None:
        self._pty.plug()
        self._outbox.clear()
        boot = self._device.on_plug()
        if boot:
            self._outbox.append((time.monotonic(), boot))
        self._next_stream = time.monotonic() + self._interval_s

    def _wrong_baud(self) -> bool:
        host = self._pty.host_baud()
        return host is not None and host != self._device.baud

    def _send(self, data: bytes, chunk: int | None = None) -> float:
        """Write ``data`` (garbled at a wrong baud), in pieces if asked; returns end time."""
        if self._wrong_baud():
            data = garble(data)
        chunk = chunk or len(data) or 1
        for start in range(0, len(data), chunk):
            if start:
                time.sleep(self._split_gap_s)
            self._pty.write(data[start : start + chunk])
        return time.monotonic()

    def _run_commands(self) -> None:
        while True:
            try:
                action, finished = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                action()
            finally:
                finished.set()

    def _receive(self) -> None:
        data = self._pty.read()
        if not data:
            return
        self.received += data
        if self._silent:
            return
        if self._wrong_baud():
            data = garble(data)
        now = time.monotonic()
        for delay, reply in self._device.on_input(data, self._fault):
            self._outbox.append((now + delay, reply))

    def _emit_due(self) -> None:
        now = time.monotonic()
        if self._device.streaming and now >= self._next_stream:
            self._next_stream = now + self._interval_s
            if not self._silent:
                self._outbox.append((now, self._device.frame(self._fault)))
        due = [item for item in self._outbox if item[0] <= now]
        self._outbox = [item for item in self._outbox if item[0] > now]
        for _, data in sorted(due, key=lambda item: item[0]):
            if self._pty.plugged and not self._silent:
                self._send(data, self._split)
                self.frames_sent += 1

    def _next_wait(self) -> float:
        deadlines = [due for due, _ in self._outbox]
        if self._device.streaming:
            deadlines.append(self._next_stream)
        if not deadlines:
            return 0.5
        return max(0.0, min(deadlines) - time.monotonic())

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._turn()
            except Exception:  # keep the device alive; a test will notice missing frames
                log.exception("simulated %s failed", self.protocol)
                time.sleep(0.05)

    def _turn(self) -> None:
        """One loop turn: apply commands, wait for input or the next due frame, send."""
        self._run_commands()
        watched = [self._wake_r] + ([self._pty.fileno()] if self._pty.plugged else [])
        ready, _, _ = select.select(watched, [], [], self._next_wait())
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        self._run_commands()
        if self._pty.plugged and self._pty.fileno() in ready:
            self._receive()
        self._emit_due()
