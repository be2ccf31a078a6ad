"""Helpers shared by the tests (importable as ``kiosk_testing``; pytest puts tests/ on the
path)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kiosk.core.clock import ClockSample


class Tick:
    """A monotonic clock the test moves (the view models' ``clock``)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@dataclass
class FakeClock:
    """A clock the test moves by hand: wall and monotonic seconds and a boot id."""

    wall_s: float
    monotonic_s: float = 1000.0
    boot_id: str = "boot-1"
    synced: bool | None = True

    def sample(self) -> ClockSample:
        return ClockSample(self.wall_s, self.monotonic_s, self.boot_id)

    def advance(self, seconds: float) -> None:
        self.wall_s += seconds
        self.monotonic_s += seconds



def run_kiosk(data_dir: Path, *args: str, input: str | None = None,
              timeout: float = 120, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    """Run the real ``kiosk`` command in a child process, as a user would (``env``: added to
    the environment, e.g. a clock that is off: sync_testkit.skewed_clock_env)."""
    child = {**os.environ, "KIVY_NO_ARGS": "1", "PYTHONIOENCODING": "utf-8", **(env or {})}
    child.pop("KIOSK_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, input=input, timeout=timeout, env=child,
    )
