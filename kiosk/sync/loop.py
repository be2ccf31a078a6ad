"""The background sync loop: never on the UI thread, one sync at a time, backoff with jitter.

After a success it sleeps ``interval_s`` (or goes again at once if events arrived meanwhile);
after a failure it waits ``base_s * 2**n`` (capped at ``max_s``) times a random factor in
[0.5, 1.5), so a hundred kiosks coming back after a power cut do not all knock at once.
``wake()`` asks for a sync soon (the gate calls it after recording an event).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from kiosk.settings import Settings
from kiosk.sync import state
from kiosk.sync.client import SyncClient, SyncError
from kiosk.sync.runner import SyncBusy, Syncer, SyncReport

if TYPE_CHECKING:
    from kiosk.store.lite import Source

log = logging.getLogger(__name__)
R = TypeVar("R")


def backoff_s(failures: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after ``failures`` failures in a row (>= 1)."""
    nominal: float = min(max_s, base_s * 2.0 ** (failures - 1))
    return nominal * rng.uniform(0.5, 1.5)


class SyncLoop(Generic[R]):
    """Runs ``sync`` (a kiosk's Syncer.run, a hub's relay round) in its own thread."""

    def __init__(
        self,
        sync: Callable[[], R],
        *,
        interval_s: float = 30.0,
        base_s: float = 2.0,
        max_s: float = 300.0,
        on_result: Callable[[R | None, Exception | None], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._sync = sync
        self._interval_s = interval_s
        self._base_s = base_s
        self._max_s = max_s
        self._on_result = on_result
        self._rng = rng or random.Random()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-loop", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self._interval_s
            try:
                report = self._sync()
            except SyncBusy:
                pass  # another process is syncing this kiosk: fine, look again later
            except (SyncError, OSError) as exc:
                self.failures += 1
                delay = backoff_s(self.failures, self._base_s, self._max_s, self._rng)
                log.info("sync failed (%s); next try in %.1f s", exc, delay)
                self._notify(None, exc)
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one sync
                self.failures += 1
                delay = backoff_s(self.failures, self._base_s, self._max_s, self._rng)
                log.exception("sync crashed; next try in %.1f s", delay)
                self._notify(None, exc)
            else:
                self.failures = 0
                self._notify(report, None)
            self._wake.wait(delay)
            self._wake.clear()

    def _notify(self, report: R | None, error: Exception | None) -> None:
        if self._on_result is not None:
            self._on_result(report, error)


def start_background_sync(
    db: Source,
    data_dir: Path,
    settings: Settings,
    *,
    interval_s: float = 30.0,
    on_result: Callable[[SyncReport | None, Exception | None], None] | None = None,
) -> SyncLoop[SyncReport] | None:
    """Start syncing this kiosk in the background; None when it is not enrolled. With a
    hub set (``sync.hub``), with the hub every few seconds while it answers, the district
    otherwise. The app calls ``wake()`` after each recorded event and ``stop()`` at exit."""
    secret = state.read_secret(data_dir)
    if not (settings.sync.url or settings.sync.hub) or secret is None:
        return None
    if settings.sync.hub:  # the compound's hub, every few seconds (kiosk.sync.route)
        from kiosk.sync.route import HUB_INTERVAL_S, Route

        route = Route(db, data_dir, settings.device.id, secret, settings.sync.url,
                      settings.sync.hub, lan_http=settings.sync.lan_http)
        # back from a cut within 10 s (the hub is on the LAN: knocking costs nothing)
        loop = SyncLoop(route.run, interval_s=min(interval_s, HUB_INTERVAL_S), max_s=10.0,
                        on_result=on_result)
    else:
        syncer = Syncer(db, data_dir, settings.device.id,
                        SyncClient(settings.sync.url, secret))
        loop = SyncLoop(syncer.run, interval_s=interval_s, on_result=on_result)
    loop.start()
    return loop
