"""What the database-file watch (kiosk.store.db.FileWatch) costs a gate movement.

One process, one store, one EventWriter: rounds of 100 durable records with the watch and 100
without, interleaved (so a busy moment of the machine hurts both sides), then the check alone.
A benchmark: prints numbers, asserts nothing.

    .venv/bin/python bench/bench_filewatch.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.store.db import file_watch, open_store
from kiosk.store.events import EventWriter, Movement
from kiosk.sysclock import sample


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-filewatch-") as tmp:
        d = Path(tmp)
        store = open_store(d / "kiosk.sqlite3")
        writer = EventWriter(store.path)
        watch = file_watch(store.path)
        assert watch is not None
        movement = Movement(checkpoint="gate-1", direction=Direction.IN,
                            decision=Decision(Outcome.ALLOW, Reason.OK),
                            readings=[make_reading(36.5)],
                            policy=settings_mod.load(d).policy(), identified_by="cli",
                            pass_number="R0001")
        lat: dict[str, list[float]] = {"with the watch": [], "without": []}
        for _ in range(args.rounds):
            for name in lat:
                writer._watch = watch if name == "with the watch" else None
                for _ in range(100):
                    t0 = time.perf_counter()
                    writer.record("bench", movement, sample(), True)
                    lat[name].append(time.perf_counter() - t0)
        writer._watch = watch
        for name, xs in lat.items():
            xs.sort()
            print(f"{name:15} p50 {statistics.median(xs) * 1e3:6.3f} ms   "
                  f"p99 {xs[int(len(xs) * 0.99)] * 1e3:7.3f} ms   "
                  f"mean {statistics.mean(xs) * 1e3:6.3f} ms")
        n = 20_000
        print(f"the check alone: {timeit.timeit(watch.check, number=n) / n * 1e6:.1f} µs")
        writer.close()
        store.close()


if __name__ == "__main__":
    main()
