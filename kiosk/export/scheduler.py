"""When to export, catching up missed nights, and the copy to a USB stick.

The kiosk may be switched off for days; when it comes back every night not yet exported is
exported, oldest first. A day is due from the configured time (default 22:00, after the last
shift) on that day. ``due_dates`` is a pure function so the rules are tested without a clock;
``ExportScheduler`` is the small thread the app runs, reporting each outcome to its status
listeners (the gate screen shows a failure; it never blocks the queue).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.export.csvfile import sha256_file
from kiosk.settings import Settings
from kiosk.store import lite

if TYPE_CHECKING:  # the export itself (kiosk.export.nightly) loads when a day is due: the
    # app's minutely look at the calendar needs only the two queries below
    from kiosk.export.nightly import ExportResult
    from kiosk.store.lite import Source

log = logging.getLogger(__name__)

#: never catch up more nights than this in one go (older days are past retention anyway)
MAX_CATCH_UP_DAYS = 62
#: folder made on the USB stick
USB_FOLDER = "checkpoint-kiosk-exports"


def last_exported(db: Source) -> date | None:
    """The latest local date whose export succeeded (None: never exported)."""
    with lite.reading(db) as con:
        return lite.read_date(lite.one(
            con, "SELECT max(local_date) FROM export_runs WHERE status = 'ok'"))


def first_event_date(db: Source) -> date | None:
    """The local date of the oldest event (where a first catch-up starts)."""
    with lite.reading(db) as con:
        return lite.read_date(lite.one(con, "SELECT min(local_date) FROM gate_events"))


def latest_due(at: time, now: datetime) -> date:
    """The newest day whose export time has come: today from ``at`` on, else yesterday."""
    return now.date() if now.time() >= at else now.date() - timedelta(days=1)


def due_dates(last_exported: date | None, at: time, now: datetime, *,
              first_day: date | None = None,
              max_days: int = MAX_CATCH_UP_DAYS) -> list[date]:
    """The days to export now, oldest first.

    ``last_exported``: newest day exported successfully (None: never). ``first_day``: the
    oldest day with events, where a first catch-up starts (None: only the latest due day).
    At most ``max_days`` days, the newest ones. Today is due only from ``at`` on.
    """
    newest = latest_due(at, now)
    if last_exported is not None:
        start = last_exported + timedelta(days=1)
    elif first_day is not None:
        start = first_day
    else:
        start = newest
    start = max(start, newest - timedelta(days=max_days - 1))
    return [start + timedelta(days=i) for i in range((newest - start).days + 1)]


# --- USB -------------------------------------------------------------------------------------
def usb_targets(patterns: Iterable[str],
                is_mount: Callable[[str], bool] = os.path.ismount) -> list[Path]:
    """Writable mount points matching the glob patterns (e.g. ``/media/*/*``): the USB
    sticks the desktop automounted. ``is_mount`` is replaceable for tests."""
    found: list[Path] = []
    for pattern in patterns:
        for match in sorted(glob.glob(os.path.expanduser(pattern))):
            p = Path(match)
            if p.is_dir() and is_mount(match) and os.access(match, os.W_OK) and p not in found:
                found.append(p)
    return found


def copy_to(files: Sequence[Path], target_root: Path, day: date) -> Path:
    """Copy the night's files to ``<root>/checkpoint-kiosk-exports/<date>/`` and check each
    copy's SHA-256 against the original (a cheap stick that lies about writes is caught)."""
    dest = target_root / USB_FOLDER / day.isoformat()
    dest.mkdir(parents=True, exist_ok=True)
    for src in files:
        tmp = dest / (src.name + ".part")
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest / src.name)
        if sha256_file(dest / src.name) != sha256_file(src):
            raise OSError(f"the copy of {src.name} on {target_root} does not match")
    return dest


# --- the thread ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportStatus:
    """One outcome, for the gate screen: ``ok`` False means show it to the volunteer."""

    ok: bool
    day: date | None
    message_zh: str
    message_en: str
    directory: Path | None = None
    usb_copies: tuple[Path, ...] = ()
    at: datetime = field(default_factory=datetime.now)


StatusListener = Callable[[ExportStatus], None]


class ExportScheduler:
    """Runs the nightly export in a background thread: checks every ``poll_s`` seconds which
    days are due (catching up missed nights), exports them, copies them to USB sticks, and
    tells its listeners. Listeners are called from the scheduler's thread: a Kivy app should
    hand the status to the UI thread with ``Clock.schedule_once``.
    """

    def __init__(self, db: Source, settings: Settings, data_dir: Path, *,
                 now: Callable[[], datetime] = datetime.now, poll_s: float = 60.0,
                 is_mount: Callable[[str], bool] = os.path.ismount) -> None:
        """``db``: the app's Db, or a tool's engine."""
        self.db = db
        self.settings = settings
        self.data_dir = data_dir
        self._now = now
        self._poll_s = poll_s
        self._is_mount = is_mount
        self._listeners: list[StatusListener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def on_status(self, listener: StatusListener) -> None:
        """Call ``listener(status)`` after every export attempt (success or failure)."""
        self._listeners.append(listener)

    @property
    def out_dir(self) -> Path:
        configured = self.settings.export.out_dir
        return Path(configured).expanduser() if configured else self.data_dir / "exports"

    def _notify(self, status: ExportStatus) -> None:
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:  # a broken screen must not stop the export
                log.exception("export status listener failed")

    def export_one(self, day: date) -> ExportResult:
        """Export one day into ``<out_dir>/<date>/`` and copy it to every mounted stick."""
        from kiosk.export.nightly import ExportOptions, export_day

        s = self.settings
        opts = ExportOptions(label=s.checkpoint.id, lang=s.export.header_language,
                             mask=s.export.mask_personal, actor="scheduler")
        result = export_day(self.db, day, self.out_dir / day.isoformat(), opts,
                            now=self._now)
        return result

    def run_once(self) -> list[ExportStatus]:
        """Export every due day, oldest first; stop at the first failure (retried at the next
        poll, so a day is never skipped). Returns what was reported."""
        with self._lock:
            now = self._now()
            at = time.fromisoformat(self.settings.export.time)
            days = due_dates(last_exported(self.db), at, now,
                             first_day=first_event_date(self.db))
            reported: list[ExportStatus] = []
            for day in days:
                status = self._export_and_copy(day)
                reported.append(status)
                self._notify(status)
                if not status.ok:
                    break
            return reported

    def _export_and_copy(self, day: date) -> ExportStatus:
        from kiosk.export.nightly import ExportError

        try:
            result = self.export_one(day)
        except ExportError as exc:
            log.error("%s", exc)
            return ExportStatus(False, day, f"{day} 导出失败:{exc}",
                                f"Export of {day} failed: {exc}")
        copies: list[Path] = []
        problems: list[str] = []
        for root in usb_targets(self.settings.export.usb_roots, self._is_mount):
            try:
                copies.append(copy_to(result.all_paths, root, day))
            except OSError as exc:
                problems.append(f"{root}: {exc}")
        if problems:
            text = "; ".join(problems)
            return ExportStatus(False, day, f"{day} 已导出,但复制到U盘失败:{text}",
                                f"{day} exported, but the USB copy failed: {text}",
                                result.directory, tuple(copies))
        return ExportStatus(True, day, f"{day} 已导出({result.events} 条)",
                            f"{day} exported ({result.events} events)", result.directory,
                            tuple(copies))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception as exc:  # the database went away, a bad setting...
                log.exception("export scheduler")
                self._notify(ExportStatus(False, None, f"自动导出出错:{exc}",
                                          f"Scheduled export error: {exc}"))
            self._stop.wait(self._poll_s)

    def start(self) -> None:
        """Start the background thread (checks at once, then every ``poll_s`` seconds)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="export-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (an export under way is finished first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
