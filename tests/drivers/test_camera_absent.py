"""No camera at the gate (the default camera.index 0 on a Pi without one): one clear state,
a quiet log, retries that back off, and OpenCV never loaded for a camera that is not there.
Each case runs in a fresh interpreter, since OpenCV writes to the process's C stderr."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import sys, time
    import drivers.camera as camera
    probes = []
    real_probe = camera.camera_present
    def counting_probe(source):
        probes.append(time.monotonic())
        return real_probe(source)
    camera.camera_present = counting_probe
    states = []
    source = int(sys.argv[1]) if sys.argv[1].isdigit() else sys.argv[1]
    reader = camera.CameraReader(source, print, states.append, reopen_s=0.05)
    reader.start()
    time.sleep(1.2)
    assert reader.stop()
    print("states", states)
    print("probes", len(probes))
    print("opencv", "cv2" in sys.modules)
""")


def _run(source: str) -> tuple[list[str], int, bool, str]:
    r = subprocess.run([sys.executable, "-c", CHILD, source], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    return eval(lines["states"]), int(lines["probes"]), lines["opencv"] == "True", r.stderr


def test_an_absent_camera_is_one_state_with_backed_off_retries_and_no_opencv():
    states, probes, opencv_loaded, stderr = _run("63")  # no /dev/video63 here
    assert states == ["lost", "stopped"]
    # 1.2 s at 0.05 s doubling: 0.05+0.1+0.2+0.4 -> 5 probes, not the 24 of a fixed 0.05 s
    assert 3 <= probes <= 6
    assert not opencv_loaded
    assert "lost" in stderr and len(stderr.splitlines()) <= 2  # one log line, no OpenCV warnings


def test_a_device_that_is_no_camera_leaves_no_opencv_warnings():
    states, _probes, opencv_loaded, stderr = _run("/dev/null")  # present, but no camera
    assert states == ["lost", "stopped"]
    assert opencv_loaded
    assert "WARN" not in stderr and "can't open" not in stderr, stderr
