"""Queue benchmark: 100 people through the real app, as fast as the gate allows.

The app runs under Xvfb on the 20,000-resident demo compound with a simulated GY-MCU90614
on a pty at 36.5 °C. Each person's signed QR pass is "scanned" through the window's key
events (the USB scanner path) while the previous result is still on screen, as in a real
queue. The app under test (tests/ui/ui_app.py) stamps each person from a listener of the
gate flow, as it changes phase: scan received, pass identified, reading taken, result shown.
App time = identification + recording (scan -> identified, reading -> result); the wait for
the thermometer's next frame (about 80 ms at 12.5 frames/s) is device time and reported
apart. A benchmark, not a test: it prints numbers and asserts nothing about time.

    .venv/bin/python bench/bench_queue.py [--people 100] [--size 800x480]
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

from ui_testkit import (  # noqa: E402
    KioskUnderTest,
    SignedPasses,
    prepare_data_dir,
    start_xvfb,
    wait_until,
)

from drivers.simulator import SimulatedThermometer  # noqa: E402
from kiosk.demo import make_demo  # noqa: E402
from kiosk.store.db import open_store  # noqa: E402


def pick_passes(data_dir: Path, n: int) -> list[str]:
    """Valid resident passes of n different households (each household's first outing)."""
    store = open_store(data_dir / "kiosk.sqlite3")
    try:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "select min(p.number) from passes p join residents r on r.id = p.resident_id "
                "where p.kind = 'resident' and p.valid_from <= ? and p.valid_to >= ? "
                "and not p.revoked group by r.household order by 1 limit ?",
                (date.today(), date.today(), n)).all()
    finally:
        store.close()
    return [r[0] for r in rows]


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--size", default="800x480")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    xvfb, display = start_xvfb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    sim = SimulatedThermometer("gy-mcu90614", link_dir=tmp).start()
    sim.set_temperature(36.5, ambient=24.0)
    passes = SignedPasses()
    app = None
    try:
        prepare_data_dir(data_dir, None, thermometer_port=sim.port, passes=passes)
        store = open_store(data_dir / "kiosk.sqlite3")
        report = make_demo(store.engine, date.today())
        store.close()
        numbers = pick_passes(data_dir, args.people)
        payloads = [passes.payload(n) for n in numbers]
        app = KioskUnderTest(data_dir, display, size, tmp)  # type: ignore[arg-type]
        app.sign_in()
        app.tap("dir_out")
        wall_start = time.monotonic()
        for i, payload in enumerate(payloads, start=1):
            app.scan(payload)
            wait_until(lambda i=i: len(app.state()["timings"]) >= i, 30, f"person {i}")
        wall = time.monotonic() - wall_start
        timings = app.state()["timings"]
        events = app.db("select count(*), sum(outcome = 'allow') from gate_events")[0]
    finally:
        if app is not None:
            app.stop()
        sim.stop()
        xvfb.terminate()
    app_s = [(t[1] - t[0]) + (t[3] - t[2]) for t in timings]
    lookup = [t[1] - t[0] for t in timings]
    device = [t[2] - t[1] for t in timings]
    record = [t[3] - t[2] for t in timings]
    total = [t[3] - t[0] for t in timings]
    print(f"roster: {report.rows} people; queue: {len(timings)} people, {events[0]} events "
          f"({events[1]} allowed); window {args.size}")
    print(f"{'per person (ms)':<34}{'median':>8}{'p95':>8}{'max':>8}")
    for label, values in (("app time (identify + record)", app_s),
                          ("  identify (scan -> identified)", lookup),
                          ("  record (reading -> result)", record),
                          ("device wait (next reading)", device),
                          ("scan -> result on screen", total)):
        print(f"{label:<34}{statistics.median(values) * 1000:8.1f}"
              f"{pct(values, 0.95) * 1000:8.1f}{max(values) * 1000:8.1f}")
    print(f"wall clock for the whole queue: {wall:.1f} s ({wall / len(timings):.3f} s/person, "
          "including the benchmark's own polling)")


if __name__ == "__main__":
    main()
