"""The app's background workers, with no Kivy import: one thread for store work, the
thermometer reader, the camera reader, one thread for the daily chores (backup, nightly
export). Each posts its results through ``post`` (the app passes a function that re-posts
onto the UI thread with ``Clock.schedule_once``), so the UI thread never waits on serial,
camera, disk or network."""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.reader import (
    ReaderEvent,
    ReaderState,
    ReadingEvent,
    StateEvent,
    ThermometerReader,
)
from kiosk.core.screening import Reading
from kiosk.settings import Settings
from kiosk.ui.vm.status import CameraState

log = logging.getLogger(__name__)
Post = Callable[[Callable[[], None]], None]


class ThreadRunner:
    """A single worker thread: store work runs in order (the gate's event writer uses one
    connection), and answers come back through ``post``."""

    def __init__(self, post: Post) -> None:
        self._post = post
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="kiosk-worker", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], Any], done: Callable[[Any], None],
               failed: Callable[[BaseException], None]) -> None:
        self._jobs.put((work, done, failed))

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            work, done, failed = job
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 - shown to the volunteer by the model
                log.exception("worker job failed")
                self._post(functools.partial(failed, exc))
                continue
            self._post(functools.partial(done, result))

    def stop(self, timeout_s: float = 2.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)


class Devices:
    """Starts and restarts the thermometer and camera from the settings. Callable from the
    worker thread: every callback reaches the UI through ``post``."""

    def __init__(self, post: Post, on_reading: Callable[[Reading], None],
                 on_thermometer: Callable[[ReaderState], None],
                 on_scan: Callable[[str], None],
                 on_camera: Callable[[CameraState], None]) -> None:
        self._post = post
        self._on_reading = on_reading
        self._on_thermometer = on_thermometer
        self._on_scan = on_scan
        self._on_camera = on_camera
        self.reader: ThermometerReader | None = None
        #: what the running reader was started with, to start it again after a probe
        self._thermometer_args: tuple[Settings, str | None] | None = None
        self.camera: Any = None
        self.simulator: Any = None

    def _thermometer_event(self, event: ReaderEvent) -> None:
        if isinstance(event, ReadingEvent):
            reading = event.reading
            self._post(lambda: self._on_reading(reading))
        elif isinstance(event, StateEvent):
            state = event.state
            self._post(lambda: self._on_thermometer(state))

    def start_simulator(self, protocol: str) -> str:
        """A simulated thermometer on a pty (demo and ``--simulate-thermometer``)."""
        from drivers.simulator import SimulatedThermometer

        self.simulator = SimulatedThermometer(protocol=protocol).start()
        self.simulator.set_temperature(36.4, ambient=24.0)
        return str(self.simulator.port)

    def start_thermometer(self, settings: Settings, port: str | None = None) -> None:
        self.stop_thermometer()
        self._thermometer_args = (settings, port)
        port = port or settings.thermometer.port
        if not port:
            self._post(lambda: self._on_thermometer(ReaderState.STOPPED))
            return
        from drivers.registry import make_thermometer

        try:
            thermometer = make_thermometer(settings.thermometer.protocol, port,
                                           baud=settings.thermometer.baud,
                                           offset_c=settings.screening.forehead_offset_c)
        except (ValueError, TypeError) as exc:
            log.error("thermometer settings: %s", exc)
            self._post(lambda: self._on_thermometer(ReaderState.WRONG_PROTOCOL))
            return
        self.reader = ThermometerReader(thermometer, self._thermometer_event)
        self.reader.start()

    def probe(self, port: str, listen_s: float = 1.5) -> Any:
        """Which thermometer answers on ``port`` (``drivers.probe``), with the reader
        stopped meanwhile: it holds its port exclusively, and a probe of that port would
        fail with "Could not exclusively lock port". The reader starts again after, with
        the settings it ran with. Blocks for seconds: call it from the worker."""
        from drivers.probe import probe

        args = self._thermometer_args if self.reader is not None else None
        self.stop_thermometer()
        try:
            return probe(port, listen_s=listen_s)
        finally:
            if args is not None:
                self.start_thermometer(*args)

    def stop_thermometer(self) -> None:
        if self.reader is not None:
            self.reader.stop()
            self.reader = None

    def start_camera(self, source: int | str | Sequence[str | Path]) -> None:
        self.stop_camera()
        from drivers.camera import CameraReader

        def payload(text: str) -> None:
            self._post(lambda: self._on_scan(text))

        def state(s: str) -> None:  # the driver's word, parsed here once
            camera = CameraState(s)
            self._post(lambda: self._on_camera(camera))

        self.camera = CameraReader(source, payload, state)
        self.camera.start()

    def stop_camera(self) -> None:
        if self.camera is not None:
            self.camera.stop()
            self.camera = None

    def stop(self) -> None:
        self.stop_camera()
        self.stop_thermometer()
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None


class Chores:
    """The work a kiosk that runs for days owes on schedule, in a thread of its own (a backup
    or an export of a big store takes seconds: neither the UI thread nor the gate's worker
    may wait for it): each job in turn, e.g. the daily backup (once a day) and the nightly
    export (catching up missed nights). The app's clock calls ``due()`` every minute; a call
    while the jobs run is folded into the next run. A failing job is logged and the others
    still run (each job reports its own failures, e.g. to the gate screen)."""

    def __init__(self, jobs: Sequence[Callable[[], object]]) -> None:
        self._jobs = tuple(jobs)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chores", daemon=True)
        self._thread.start()

    def due(self) -> None:
        """Run the jobs now (callable from any thread; returns at once)."""
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            for job in self._jobs:
                try:
                    job()
                except Exception:  # the store went away, a bad setting... (logged)
                    log.exception("chore %s failed", getattr(job, "__name__", job))
                if self._stop.is_set():
                    return

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the job under way (an export is finished, never cut in half)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)


def start_sync(db: Any, data_dir: Path, settings: Settings,
               on_result: Callable[[], None]) -> Any:
    """The background sync loop (kiosk.sync) when this kiosk is enrolled; None otherwise.
    ``on_result`` is called from the loop's thread after every attempt."""
    if not (settings.sync.url or settings.sync.hub):  # not enrolled: httpx (~4 MB) unloaded
        return None
    try:
        from kiosk.sync.loop import start_background_sync
    except ImportError:  # a build without the sync client
        return None
    return start_background_sync(db, data_dir, settings,
                                 on_result=lambda _report, _error: on_result())


#: seconds without a successful sync after which a gate says its view of the other gates
#: is stale: a few missed rounds with a hub (every 2 s), a few with the district (30 s)
STALE_WITH_HUB_S = 15.0
STALE_DIRECT_S = 120.0


def sync_status(db: Any, data_dir: Path, url: str, hub: str = ""
                ) -> tuple[int, bool | None, float | None, Any, float | None]:
    """(events waiting, online?, this kiosk's clock minus the central store's in seconds,
    the way to the district and since when the view of the other gates is stale (a
    kiosk.sync.state.GateLink), seconds since the roster, revocations and keys came from
    the command) - all but the count are None when sync is not set up; the offset when not
    measured, the age when the gate has never had the command's data."""
    try:
        from kiosk.sync import state
    except ImportError:
        from kiosk.ui.vm.queries import outbox_waiting

        return outbox_waiting(db), None, None, None, None
    st = state.status(db, data_dir, url)
    if not (url or hub) or not st.enrolled:
        return st.pending, None, None, None, None
    online = st.succeeded_last()
    link = state.gate_link(st, datetime.now(UTC), STALE_WITH_HUB_S if hub else STALE_DIRECT_S)
    return st.pending, online, st.clock_offset_s, link, st.data_age_s()
