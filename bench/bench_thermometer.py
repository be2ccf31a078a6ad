"""Thermometer latency benchmark (not a test).

Measures, over real pty bytes, the time from the last byte of a GY-MCU90614 frame written to
the pseudo-terminal until the reading reaches the reader thread's callback (what the UI gets),
and until the driver time-stamped it (``taken_monotonic``). Target: p99 < 5 ms.

Run: ``.venv/bin/python bench/bench_thermometer.py [--frames 200]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drivers import gy_mcu90614  # noqa: E402
from drivers.reader import ReaderEvent, ReaderState, ReadingEvent, ThermometerReader  # noqa: E402
from drivers.simulator import SimulatedThermometer  # noqa: E402


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(frames: int, gap_s: float) -> None:
    arrived: dict[float, tuple[float, float]] = {}  # object °C -> (callback time, taken time)
    cond = threading.Condition()

    def on_event(event: ReaderEvent) -> None:
        if isinstance(event, ReadingEvent) and event.reading.object_c is not None:
            now = time.monotonic()
            with cond:
                arrived[event.reading.object_c] = (now, event.reading.taken_monotonic)
                cond.notify_all()

    with SimulatedThermometer("gy-mcu90614") as sim:
        sim.silence(True)  # the device sends nothing by itself; the benchmark writes each frame
        device = gy_mcu90614.GyMcu90614(sim.port, mode="continuous")
        reader = ThermometerReader(device, on_event)
        reader.start()
        deadline = time.monotonic() + 5
        while reader.state is not ReaderState.STARTING and time.monotonic() < deadline:
            time.sleep(0.01)
        to_callback: list[float] = []
        to_driver: list[float] = []
        lost = 0
        for i in range(frames + 10):  # the first 10 warm up
            value = round(30.0 + i * 0.01, 2)
            written = sim.inject(gy_mcu90614.encode_frame(value, 25.0))
            with cond:
                cond.wait_for(lambda v=value: v in arrived, timeout=1.0)  # type: ignore[misc]
                got = arrived.get(value)
            if got is None:
                lost += 1
            elif i >= 10:
                to_callback.append((got[0] - written) * 1000)
                to_driver.append((got[1] - written) * 1000)
            time.sleep(gap_s)
        reader.stop()
    print(f"frames: {len(to_callback)} measured, {lost} lost, gap {gap_s * 1000:.0f} ms")
    for name, values in (
        ("write -> callback", to_callback),
        ("write -> taken_monotonic", to_driver),
    ):
        print(
            f"{name:26s} p50 {percentile(values, 50):6.3f} ms  p99 {percentile(values, 99):6.3f} ms"
            f"  max {max(values):6.3f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between frames")
    args = parser.parse_args()
    run(args.frames, args.gap)


if __name__ == "__main__":
    main()
