"""Camera QR reader: OpenCV frames in a thread, decoded at a bounded rate.

The gate camera looks at a queue of people holding up phones and paper; most frames hold no
QR. Frames are downscaled and decoded at most ``rate_hz`` times a second so a Pi's CPU stays
free for the UI; the same payload is reported once per ``dedupe_s`` seconds (a pass held in
front of the camera is one scan, not ten); losing the camera (USB pulled) is reported and the
reader keeps trying to reopen it, waiting twice as long after each failure (up to a minute).

No camera is one clear state ("lost") and a quiet log: a camera index is probed as its
/dev/videoN before OpenCV is even imported (OpenCV and numpy take about 40 MB, which a kiosk
without a camera never pays), and OpenCV's own warnings are turned down to errors.

``source`` is a camera index or device path (cv2.VideoCapture), or a sequence of image files
that stand in for frames: tests and demos feed real photographs through the same code path.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: longest side a frame is scaled down to before decoding (pixels)
MAX_SIDE = 960
#: the longest wait between two attempts to open a missing camera (seconds)
REOPEN_MAX_S = 60.0


def opencv() -> Any:
    """OpenCV, imported on first use, with its log turned down to errors: an absent or
    unplugged camera is reported as a state, not as a warning at every retry."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2


def camera_present(source: int | str) -> bool:
    """A cheap probe before OpenCV is loaded: on Linux camera index N is /dev/videoN."""
    if isinstance(source, int) and sys.platform.startswith("linux"):
        return Path(f"/dev/video{source}").exists()
    if isinstance(source, str) and source.startswith("/dev/"):
        return Path(source).exists()
    return True


class FileFrames:
    """Image files served as camera frames, in order, then nothing (a camera that sees an
    empty gate)."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self._paths = [Path(p) for p in paths]
        self._i = 0

    def isOpened(self) -> bool:  # noqa: N802 - the cv2.VideoCapture interface
        return True

    def read(self) -> tuple[bool, Any]:
        import numpy as np

        from kiosk.qr.decode import load_image

        if self._i >= len(self._paths):
            return True, np.full((480, 640, 3), 255, np.uint8)
        path = self._paths[self._i]
        self._i += 1
        try:
            return True, load_image(path)
        except (OSError, ValueError):
            return False, None

    def release(self) -> None:
        self._i = len(self._paths)


def downscale(frame: Any, max_side: int = MAX_SIDE) -> Any:
    h, w = frame.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return frame
    cv2 = opencv()
    return cv2.resize(frame, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)


class Deduper:
    """Report a payload once per ``window_s`` seconds."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}

    def fresh(self, payload: str, now: float) -> bool:
        last = self._seen.get(payload)
        self._seen = {p: t for p, t in self._seen.items() if now - t < self.window_s}
        if last is not None and now - last < self.window_s:
            return False
        self._seen[payload] = now
        return True


class CameraReader:
    """Reads frames in a daemon thread and calls ``on_payload`` for each new QR payload and
    ``on_state`` with "connected", "lost" or "stopped". Callbacks run in the reader thread;
    a Kivy UI re-posts them with Clock.schedule_once."""

    def __init__(
        self,
        source: int | str | Sequence[str | Path],
        on_payload: Callable[[str], None],
        on_state: Callable[[str], None] = lambda _s: None,
        *,
        rate_hz: float = 5.0,
        dedupe_s: float = 3.0,
        reopen_s: float = 1.0,
        reopen_max_s: float = REOPEN_MAX_S,
        open_capture: Callable[[int | str], Any] | None = None,
    ) -> None:
        self._source = source
        self._on_payload = on_payload
        self._on_state = on_state
        self._period = 1.0 / rate_hz
        self._dedupe = Deduper(dedupe_s)
        self._reopen_s = reopen_s
        self._reopen_max_s = reopen_max_s
        self._open = open_capture
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state = "stopped"
        self.frames_decoded = 0

    def _capture(self) -> Any:
        """An open capture, or None when the probe finds no such camera."""
        if not isinstance(self._source, int | str):
            return FileFrames(self._source)
        if self._open is not None:
            return self._open(self._source)
        if not camera_present(self._source):
            return None
        return opencv().VideoCapture(self._source)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            if state == "lost":
                log.warning("camera %s not found or lost; retrying, at most every %.0f s",
                            self._source if isinstance(self._source, int | str) else "files",
                            self._reopen_max_s)
            elif state == "connected":
                log.info("camera %s connected", self._source)
            self.state = state
            self._on_state(state)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="camera-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        delay = self._reopen_s
        while not self._stop.is_set():
            cap = self._capture()
            if cap is None or not cap.isOpened():
                if cap is not None:
                    cap.release()
                self._set_state("lost")
                self._stop.wait(delay)
                delay = min(delay * 2, self._reopen_max_s)  # back off: no camera, no churn
                continue
            delay = self._reopen_s
            self._set_state("connected")
            try:
                self._read_frames(cap)
            finally:
                cap.release()
        self._set_state("stopped")

    def _read_frames(self, cap: Any) -> None:
        from kiosk.qr.decode import decode_image

        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            ok, frame = cap.read()
            if not ok or frame is None:
                failures += 1
                if failures >= 5:  # the camera went away: reopen it
                    self._set_state("lost")
                    self._stop.wait(self._reopen_s)
                    return
                continue
            failures = 0
            # retries only every few frames: most frames hold no code (see decode_image)
            payloads = decode_image(downscale(frame), retries=self.frames_decoded % 5 == 0)
            self.frames_decoded += 1
            now = time.monotonic()
            for payload in payloads:
                if self._dedupe.fresh(payload, now):
                    self._on_payload(payload)
            self._stop.wait(max(0.0, self._period - (time.monotonic() - started)))
