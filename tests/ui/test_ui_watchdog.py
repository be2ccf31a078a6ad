"""The real app (Kivy under Xvfb) feeds systemd's watchdog from its UI loop: READY=1 once the
window is up, then WATCHDOG=1 at half of WatchdogSec; a frozen app stops pinging, so systemd
restarts it (the unit of `kiosk install-service`, Type=notify)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ui_testkit import prepare_data_dir, xvfb  # noqa: F401 - the xvfb fixture

KIOSK = str(Path(sys.executable).parent / "kiosk")


def _listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    return sock



def test_the_app_tells_systemd_it_is_ready_then_pings_from_its_ui_loop(
        xvfb: str, data_dir: Path, tmp_path: Path):  # noqa: F811
    prepare_data_dir(data_dir, None)
    sock = _listen(tmp_path / "notify")
    env = {**os.environ, "DISPLAY": xvfb, "KIVY_NO_ARGS": "1",
           "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    env.pop("KIOSK_DATA_DIR", None)
    proc = subprocess.Popen([KIOSK, "--data-dir", str(data_dir), "app", "--windowed"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert sock.recv(100) == b"READY=1"
        sock.settimeout(5)
        pings = [sock.recv(100) for _ in range(3)]  # every 0.5 s: half of WatchdogSec
        assert pings == [b"WATCHDOG=1"] * 3
        proc.send_signal(signal.SIGSTOP)  # a frozen kiosk stops pinging, systemd restarts it
        time.sleep(0.2)
        while True:  # drain what was sent before the stop
            try:
                sock.settimeout(0.01)
                sock.recv(100)
            except TimeoutError:
                break
        sock.settimeout(1.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(10)
