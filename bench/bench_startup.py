"""Start-up benchmark: from launching ``kiosk app`` to a usable screen, on the 20,000-resident
demo database, under Xvfb.

Measured per run (monotonic clock, shared by the processes on Linux):
- process start -> sign-in screen drawn (first frame after build: store opened with its
  integrity check and migrations, font found, all screens built, thermometer started);
- PIN confirmed -> gate screen (the argon2 PIN check, deliberately slow, and the shift row).
A benchmark: prints numbers, asserts nothing.

    .venv/bin/python bench/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "ui")]

from ui_testkit import PIN, VOLUNTEER, KioskUnderTest, prepare_data_dir, start_xvfb  # noqa: E402

from drivers.simulator import SimulatedThermometer  # noqa: E402
from kiosk.demo import make_demo  # noqa: E402
from kiosk.store.db import open_store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    xvfb, display = start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    sim = SimulatedThermometer("gy-mcu90614", link_dir=tmp).start()
    to_signin: list[float] = []
    to_gate: list[float] = []
    try:
        prepare_data_dir(data_dir, None, thermometer_port=sim.port)
        store = open_store(data_dir / "kiosk.sqlite3")
        make_demo(store.engine, date.today())
        store.close()
        for _ in range(args.runs):
            app = KioskUnderTest(data_dir, display, (800, 480), tmp)
            try:
                to_signin.append(app.state()["ready_at"] - app.started)
                app.tap(f"name_{VOLUNTEER}")
                for d in PIN:
                    app.tap(f"pin_{d}")
                t0 = time.monotonic()
                app.tap("pin_OK")
                app.wait_screen("gate")
                to_gate.append(time.monotonic() - t0)
            finally:
                app.stop()
    finally:
        sim.stop()
        xvfb.terminate()
    print(f"{args.runs} runs, demo database (about 21,000 people), 800x480")
    print(f"process start -> sign-in screen drawn: median {statistics.median(to_signin):.2f} s,"
          f" max {max(to_signin):.2f} s")
    print(f"PIN OK -> gate screen:                 median {statistics.median(to_gate):.2f} s,"
          f" max {max(to_gate):.2f} s")
    total = [a + b for a, b in zip(to_signin, to_gate, strict=True)]
    print(f"start to usable gate screen (excluding typing): median "
          f"{statistics.median(total):.2f} s, max {max(total):.2f} s")


if __name__ == "__main__":
    main()
