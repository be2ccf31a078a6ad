"""Running the real kiosk app under Xvfb and driving it through the control socket of
``ui_app.py`` (the app subclassed for tests; the product has no hook).

Not a conftest.py (see tests/drivers/drivers_testkit.py): test modules import the fixtures.
Each app runs in its own process (one Kivy app per process) on a private X display started
by the ``xvfb`` fixture, so plain ``pytest`` works with no wrapper script. The thermometer is
a SimulatedThermometer on a pty in the test process: the app reads real bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from drivers.simulator import SimulatedThermometer
from kiosk import settings as settings_mod
from kiosk.core.model import PassKind, Role
from kiosk.core.passcode import PassFields, encode_pass, generate_key_pair, public_key_to_hex
from kiosk.store.db import open_store
from kiosk.store.importer import import_roster
from kiosk.store.passkeys import trust_key
from kiosk.store.volunteers import add_volunteer

REPO = Path(__file__).resolve().parents[2]
#: generous bound for anything asynchronous on a loaded 2-core machine (seconds)
WAIT_S = 45.0
VOLUNTEER, PIN = "李静", "2468135"
ADMIN, ADMIN_PIN = "余融豪", "1357924"
KEY_ID = "K1"
#: set to a directory (e.g. docs/screenshots) to keep the flows' screenshots there
SCREENSHOT_ENV = "KIOSK_UI_SCREENSHOTS"


def wait_until(predicate: Callable[[], Any], timeout_s: float = WAIT_S,
               what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy and return it; never a fixed sleep."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """Start a private X server (1280x1280: portrait 800x1280 fits) on a free display
    number; returns it and ":N"."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise FileNotFoundError("Xvfb is not installed (scripts/bootstrap installs it)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_fd), "-screen", "0", "1280x1280x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        raise RuntimeError("Xvfb did not start")
    return proc, f":{number}"


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    """A private X display for every app of the session."""
    try:
        proc, display = start_xvfb()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield display
    proc.terminate()
    proc.wait(10)


class SignedPasses:
    """An issuing office's key, trusted by the kiosk, to print genuine QR passes."""

    def __init__(self) -> None:
        self.private, public = generate_key_pair()
        self.public_hex = public_key_to_hex(public)

    def payload(self, number: str, kind: PassKind = PassKind.RESIDENT,
                valid_from: date | None = None, valid_to: date | None = None) -> str:
        today = date.today()
        fields = PassFields(number, kind, valid_from or today - timedelta(days=5),
                            valid_to or today + timedelta(days=20))
        return encode_pass(fields, self.private, KEY_ID)

    def png(self, payload: str, path: Path) -> Path:
        from kiosk.qr.cards import qr_image

        qr_image(payload, side=400).save(path)
        return path


def prepare_data_dir(data_dir: Path, roster_file: Path | None, *, thermometer_port: str = "",
                     passes: SignedPasses | None = None) -> None:
    """Settings, roster, volunteers and trusted key, as an admin would set up a kiosk."""
    s = settings_mod.load(data_dir)
    s.checkpoint.id, s.checkpoint.name = "test-gate", "北苑小区北门"
    s.camera.index = -1  # no camera here; tests feed image files through the same reader
    s.thermometer.port, s.thermometer.protocol = thermometer_port, "gy-mcu90614"
    s.device.require_clock_sync = False
    s.fever.leader_name, s.fever.leader_phone = "王组长", "13800138000"
    s.fever.observation_point = "3号楼东侧帐篷"
    settings_mod.save(data_dir, s)
    store = open_store(data_dir / "kiosk.sqlite3")
    try:
        if roster_file is not None:
            report = import_roster(store.engine, roster_file)
            assert report.committed and not report.rejected
        add_volunteer(store.engine, VOLUNTEER, PIN)
        add_volunteer(store.engine, ADMIN, ADMIN_PIN, Role.ADMIN)
        if passes is not None:
            trust_key(store.engine, KEY_ID, passes.public_hex)
    finally:
        store.close()


class KioskUnderTest:
    """One app process and its control socket."""

    def __init__(self, data_dir: Path, display: str, size: tuple[int, int],
                 shots: Path) -> None:
        self.data_dir = data_dir
        self.shots = shots
        self.hook = data_dir / "test-hook.port"
        self.hook.unlink(missing_ok=True)
        env = {**os.environ, "DISPLAY": display, "KIVY_NO_ARGS": "1",
               "PYTHONIOENCODING": "utf-8"}
        env.pop("KIOSK_DATA_DIR", None)
        self.log = open(data_dir / "app.log", "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("ui_app.py")), "--data-dir",
             str(data_dir), "--size", f"{size[0]}x{size[1]}", "--port-file", str(self.hook)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_until(lambda: self.hook.exists() or self.proc.poll() is not None, 60, "app start")
        if self.proc.poll() is not None:
            raise AssertionError("app died at start:\n" + self.log_text())
        self.sock = socket.create_connection(("127.0.0.1", int(self.hook.read_text())))
        self.io = self.sock.makefile("rwb")
        wait_until(lambda: self.state()["ready"], 60, "first frame")

    def log_text(self) -> str:
        self.log.flush()
        return (self.data_dir / "app.log").read_text(encoding="utf-8", errors="replace")[-4000:]

    def cmd(self, cmd: str, **args: Any) -> dict[str, Any]:
        self.io.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        self.io.flush()
        line = self.io.readline()
        if not line:
            raise AssertionError("app closed the hook:\n" + self.log_text())
        return json.loads(line)

    def state(self) -> dict[str, Any]:
        return self.cmd("state")

    def flow(self) -> dict[str, Any]:
        return self.state()["flow"]

    def tap(self, tid: str, times: int = 1) -> None:
        reply = wait_until(lambda: (r := self.cmd("tap", tid=tid, times=times))["ok"] and r,
                           WAIT_S, f"tap {tid}")
        assert reply["ok"], reply

    def wait_screen(self, name: str) -> dict[str, Any]:
        return wait_until(lambda: (s := self.state())["screen"] == name and s,
                          what=f"screen {name}")

    def wait_phase(self, phase: str) -> dict[str, Any]:
        return wait_until(lambda: (f := self.flow())["phase"] == phase and f,
                          what=f"phase {phase}")

    def scan(self, text: str) -> None:
        assert self.cmd("scan", text=text)["ok"]

    def screenshot(self, name: str) -> Path:
        """Saved in the test's directory (and in $KIOSK_UI_SCREENSHOTS when set). Waits a
        few frames so the picture shows the state just reached."""
        time.sleep(0.3)  # let Kivy draw the new state; not a timing assertion
        path = self.shots / f"{name}.png"
        assert self.cmd("screenshot", path=str(path))["ok"]
        keep = os.environ.get(SCREENSHOT_ENV)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    def sign_in(self, name: str = VOLUNTEER, pin: str = PIN) -> None:
        self.wait_screen("signin")
        wait_until(lambda: self.cmd("tap", tid=f"name_{name}")["ok"], what="volunteer list")
        for digit in pin:
            self.tap(f"pin_{digit}")
        self.tap("pin_OK")
        self.wait_screen("gate")

    def open_admin(self) -> None:
        """The admin key on the sign-in screen and the admin's PIN: the settings screen."""
        self.wait_screen("signin")
        self.tap("admin")
        for digit in ADMIN_PIN:
            self.tap(f"pin_{digit}")
        self.tap("pin_OK")
        self.wait_screen("admin")

    def db(self, sql: str) -> list[tuple[Any, ...]]:
        import sqlite3

        con = sqlite3.connect(self.data_dir / "kiosk.sqlite3")
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                self.cmd("stop")
                self.proc.wait(15)
        except (OSError, AssertionError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        finally:
            self.log.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedThermometer]:
    """A GY-MCU90614 on a pty, reading a normal forehead."""
    directory = tmp_path / "tty"
    directory.mkdir()
    device = SimulatedThermometer("gy-mcu90614", link_dir=directory).start()
    device.set_temperature(36.5, ambient=24.0)
    yield device
    device.stop()


@pytest.fixture
def passes() -> SignedPasses:
    return SignedPasses()


@pytest.fixture
def kiosk(xvfb: str, data_dir: Path, roster_file: Path, sim: SimulatedThermometer,
          passes: SignedPasses, tmp_path: Path) -> Iterator[Callable[..., KioskUnderTest]]:
    """Start the app (default 800x480, the Pi panel) on a prepared data directory."""
    prepare_data_dir(data_dir, roster_file, thermometer_port=sim.port, passes=passes)
    apps: list[KioskUnderTest] = []

    def start(size: tuple[int, int] = (800, 480)) -> KioskUnderTest:
        app = KioskUnderTest(data_dir, xvfb, size, tmp_path)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()
