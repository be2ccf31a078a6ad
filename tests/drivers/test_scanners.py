"""USB wedge scanners and the camera reader, fed with timed keys and real images."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import qrcode

from drivers.camera import CameraReader, Deduper
from drivers.wedge import BurstDetector

PAYLOAD = "KP1.K1.R0003.R.20261101.20261231.ABCDEF"


def type_keys(det: BurstDetector, text: str, start: float, gap: float) -> float:
    t = start
    for ch in text:
        det.feed(ch, t)
        t += gap
    return t


def test_a_fast_burst_ending_in_enter_is_a_scan():
    det = BurstDetector()
    t = type_keys(det, PAYLOAD, 100.0, 0.004)
    assert det.enter(t) == PAYLOAD
    assert not det.pending


def test_human_typing_is_not_a_scan():
    det = BurstDetector()
    t = type_keys(det, "R0003", 100.0, 0.15)
    assert det.enter(t) is None


def test_a_scan_right_after_some_typing_is_still_read_whole():
    det = BurstDetector()
    t = type_keys(det, "12", 100.0, 0.2)
    t = type_keys(det, PAYLOAD, t + 0.5, 0.003)
    assert det.enter(t) == PAYLOAD


def test_a_late_enter_or_a_too_short_burst_is_not_a_scan():
    det = BurstDetector()
    t = type_keys(det, PAYLOAD, 100.0, 0.003)
    assert det.enter(t + 1.0) is None  # someone pressed Enter long after
    t = type_keys(det, "R1", 200.0, 0.003)
    assert det.enter(t) is None


def test_the_same_pass_is_reported_once_per_window():
    d = Deduper(3.0)
    assert d.fresh("A", 0.0) and not d.fresh("A", 1.0) and d.fresh("B", 1.0)
    assert d.fresh("A", 3.5)


def qr_png(tmp_path: Path, text: str, name: str) -> Path:
    img = qrcode.make(text)
    path = tmp_path / name
    img.save(path)
    return path


def wait_for(predicate, timeout: float = 10.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_camera_frames_from_real_images_report_each_pass_once(tmp_path: Path):
    samples = Path(__file__).resolve().parents[2].parent / "shared" / "qr-samples" / "qrcode-1"
    if not samples.is_dir():
        pytest.skip("shared/qr-samples not present")
    photo = sorted(p for p in samples.iterdir() if p.suffix != ".txt")[0]
    expected_photo = photo.with_suffix(".txt").read_bytes().decode()
    pass_qr = qr_png(tmp_path, PAYLOAD, "pass.png")
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((480, 640, 3), 200, np.uint8))
    frames = [blank, pass_qr, pass_qr, pass_qr, blank, photo]
    got: list[str] = []
    states: list[str] = []
    lock = threading.Lock()

    def on_payload(p: str) -> None:
        with lock:
            got.append(p)

    reader = CameraReader(frames, on_payload, states.append, rate_hz=50.0)
    reader.start()
    assert wait_for(lambda: len(got) >= 2)
    assert reader.stop()
    assert got == [PAYLOAD, expected_photo]  # the pass held up for 3 frames counts once
    assert states[0] == "connected" and states[-1] == "stopped"


class FlakyCamera:
    """Stands in for a USB camera (none exists here): serves frames, then is unplugged."""

    opened = 0

    def __init__(self, frame: np.ndarray, good_frames: int) -> None:
        FlakyCamera.opened += 1
        self.frame, self.left = frame, good_frames

    def isOpened(self) -> bool:  # noqa: N802
        return FlakyCamera.opened != 2  # the second open fails: still unplugged

    def read(self):  # noqa: ANN201
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, self.frame

    def release(self) -> None:
        pass


def test_camera_loss_is_reported_and_the_reader_reopens_it(tmp_path: Path):
    import cv2

    frame = cv2.imread(str(qr_png(tmp_path, PAYLOAD, "p.png")))
    FlakyCamera.opened = 0
    states: list[str] = []
    got: list[str] = []
    reader = CameraReader(0, got.append, states.append, rate_hz=100.0, dedupe_s=0.0,
                          reopen_s=0.05,
                          open_capture=lambda _src: FlakyCamera(frame, good_frames=3))
    reader.start()
    assert wait_for(lambda: FlakyCamera.opened >= 3 and states.count("connected") >= 2)
    assert reader.stop()
    assert states[:3] == ["connected", "lost", "connected"]
    assert got and set(got) == {PAYLOAD}
