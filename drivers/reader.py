"""A daemon thread that owns one thermometer and never blocks its caller.

It posts :data:`ReaderEvent` objects to a callback **from the reader thread** (a Kivy UI
re-posts them with ``Clock.schedule_once``), keeps the latest reading, derives a link state
from the traffic and reopens the port by itself after an unplug. Times in seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from drivers.thermometer import Thermometer, ThermometerError
from kiosk.core.screening import Reading

log = logging.getLogger(__name__)


class ReaderState(StrEnum):
    """Link state shown to the volunteer (separate from a reading's own state)."""

    STARTING = "starting"  # port open, no frame yet and not silent for long
    CONNECTED = "connected"  # valid frames arriving
    NO_DATA = "no_data"  # port open, nothing valid and nothing at all for a while
    WRONG_PROTOCOL = "wrong_protocol"  # bytes arrive but never a valid frame (wrong baud?)
    UNPLUGGED = "unplugged"  # port missing or failed; retrying every reconnect interval
    STOPPED = "stopped"  # before start() and after stop()


@dataclass(frozen=True, slots=True)
class ReadingEvent:
    reading: Reading


@dataclass(frozen=True, slots=True)
class StateEvent:
    state: ReaderState
    detail: str = ""


ReaderEvent = ReadingEvent | StateEvent
Callback = Callable[[ReaderEvent], None]


class ThermometerReader:
    """Run ``thermometer`` in a daemon thread.

    ``no_data_after_s``: silence after which the state becomes NO_DATA.
    ``wrong_protocol_after_s``: bytes but no valid frame for this long -> WRONG_PROTOCOL.
    ``reconnect_interval_s``: how often a missing port is retried.
    ``poll_s``: longest single wait inside the thread (bounds stop() latency).
    """

    def __init__(
        self,
        thermometer: Thermometer,
        callback: Callback | None = None,
        *,
        no_data_after_s: float = 3.0,
        wrong_protocol_after_s: float = 3.0,
        reconnect_interval_s: float = 0.5,
        poll_s: float = 0.2,
    ) -> None:
        self._thermometer = thermometer
        self._callback = callback
        self._no_data_after_s = no_data_after_s
        self._wrong_protocol_after_s = wrong_protocol_after_s
        self._reconnect_interval_s = reconnect_interval_s
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: Reading | None = None
        self._state = ReaderState.STOPPED  # until start(); then STARTING on each open
        self._thread: threading.Thread | None = None

    # -- caller side (any thread) ------------------------------------------------------------

    @property
    def latest(self) -> Reading | None:
        """The most recent reading (check ``is_fresh`` before attaching it to a person)."""
        with self._lock:
            return self._latest

    @property
    def state(self) -> ReaderState:
        with self._lock:
            return self._state

    @property
    def thermometer(self) -> Thermometer:
        return self._thermometer

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("reader already started")
        self._thread = threading.Thread(
            target=self._run, name=f"thermometer {self._thermometer.identity}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Ask the thread to finish and join it; True if it ended within ``timeout_s``."""
        self._stop.set()
        self._thermometer.cancel()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def __enter__(self) -> ThermometerReader:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- reader thread -----------------------------------------------------------------------

    def _post(self, event: ReaderEvent) -> None:
        if self._callback is None:
            return
        try:
            self._callback(event)
        except Exception:  # a UI bug must not kill the thermometer
            log.exception("thermometer callback failed")

    def _set_state(self, state: ReaderState, detail: str = "") -> None:
        with self._lock:
            if state is self._state:
                return
            self._state = state
        log.info("thermometer %s: %s %s", self._thermometer.identity, state, detail)
        self._post(StateEvent(state, detail))

    def _link_state(self, now: float) -> ReaderState | None:
        """State implied by the traffic since open(); None = no change yet."""
        stats = self._thermometer.stats
        last_frame = stats.last_frame_monotonic
        quiet_since = last_frame if last_frame is not None else stats.opened_monotonic
        silent_for = now - quiet_since
        last_byte = stats.last_byte_monotonic
        bytes_recent = last_byte is not None and now - last_byte < self._no_data_after_s
        if last_frame is not None and silent_for < self._no_data_after_s:
            return ReaderState.CONNECTED
        if bytes_recent and silent_for >= self._wrong_protocol_after_s:
            return ReaderState.WRONG_PROTOCOL
        if silent_for >= self._no_data_after_s:
            return ReaderState.NO_DATA
        return None

    def _open(self) -> bool:
        try:
            self._thermometer.open()
        except ThermometerError as exc:
            self._set_state(ReaderState.UNPLUGGED, str(exc))
            return False
        self._set_state(ReaderState.STARTING, str(self._thermometer.identity))
        return True

    def _step(self) -> None:
        """One turn of the loop: (re)open if needed, wait for one reading, update the state."""
        if not self._thermometer.is_open and not self._open():
            self._stop.wait(self._reconnect_interval_s)
            return
        try:
            reading = self._thermometer.next_reading(self._poll_s)
        except ThermometerError as exc:
            self._thermometer.close()
            self._set_state(ReaderState.UNPLUGGED, str(exc))
            self._stop.wait(self._reconnect_interval_s)
            return
        if self._stop.is_set():
            return
        state = self._link_state(time.monotonic())
        if state is ReaderState.CONNECTED:
            self._set_state(state)  # before the reading, so the UI never sees an orphan
        if reading is not None:
            with self._lock:
                self._latest = reading
            self._post(ReadingEvent(reading))
        if state is not None and state is not ReaderState.CONNECTED:
            self._set_state(state)
            self._maybe_next_baud(state)

    def _maybe_next_baud(self, state: ReaderState) -> None:
        """Nothing valid since open: the module may ship at its other rate (GY-MCU90614:
        9600 or 115200). Reopen at the next one; the state says which is being tried."""
        if state not in (ReaderState.WRONG_PROTOCOL, ReaderState.NO_DATA):
            return
        if self._thermometer.stats.last_frame_monotonic is not None:
            return  # it did talk at this rate: silence is not a baud problem
        next_baud = getattr(self._thermometer, "try_next_baud", None)
        if next_baud is not None and next_baud():
            self._thermometer.close()
            log.info("thermometer: nothing valid, trying %s", self._thermometer.identity)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except Exception as exc:  # a driver bug: log it, reopen, keep going
                    log.exception("thermometer driver failed")
                    self._thermometer.close()
                    self._set_state(ReaderState.UNPLUGGED, f"driver error: {exc}")
                    self._stop.wait(self._reconnect_interval_s)
        finally:
            self._thermometer.close()
            self._set_state(ReaderState.STOPPED)
