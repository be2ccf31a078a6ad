"""What the WAL checkpoint policy costs the gate's durable writes under a sustained burst.

Each side writes its own copy of one store (so one side's WAL never lengthens another's):
rounds of 0.4 s (``--round-s``) of ``EventWriter.record`` back to back (synchronous=FULL,
as at the gate), interleaved and in alternating order, so a busy moment of the machine hurts
every side alike:

- ``restarting thread``: the kiosk's Checkpointer (kiosk.store.events): passive checkpoints
  in a thread, and past ``restart_frames`` the rest copied holding the writer's lock, so the
  WAL starts over;
- ``passive thread``: the same thread with passive checkpoints only, once a second (sessions
  5-7): under a burst the WAL never starts over and grows;
- ``inline``: SQLite's default, a checkpoint inside every ~1000th frame's commit;
- ``raw, our record``: raw sqlite3 writing exactly our rows (bench_gate.RawSameRecord), with
  SQLite's default checkpoints.

Prints writes per second and their ratio to raw, the p50/p99/max of one write, the wall,
user, system and waiting time per write (getrusage) and the WAL's size at the end. A
benchmark: prints numbers, asserts nothing.

    .venv/bin/python bench/bench_checkpoint.py [--rounds 12] [--residents 20000] [--round-s 0.4]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_gate import Ours, RawSameRecord, fill

from kiosk import settings as settings_mod
from kiosk.store.db import open_store
from kiosk.store.events import Checkpointer


def timed_rate(fn: Callable[[], None], seconds: float) -> list[float]:
    """Each call's wall time, calls back to back for ``seconds``."""
    out: list[float] = []
    clock = time.perf_counter
    end = clock() + seconds
    while (t0 := clock()) < end:
        fn()
        out.append(clock() - t0)
    return out


def side_store(base: Path, name: str) -> Path:
    """A copy of the filled store in a directory of its own (settings beside it)."""
    d = base / name
    d.mkdir()
    shutil.copyfile(base / "kiosk.sqlite3", d / "kiosk.sqlite3")
    settings_mod.load(d)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--residents", type=int, default=20_000)
    ap.add_argument("--round-s", type=float, default=0.4,
                    help="seconds of writes back to back per side and round (a longer burst "
                         "lets the passive thread's WAL grow further)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as tmp:
        base = Path(tmp)
        settings_mod.load(base)
        open_store(base / "kiosk.sqlite3").close()
        fill(base / "kiosk.sqlite3", args.residents)
        restarting = Ours(side_store(base, "restarting"), args.residents)
        passive = Ours(side_store(base, "passive"), args.residents)
        old = passive.writer._checkpointer  # noqa: SLF001
        assert old is not None
        old.stop()
        passive.writer._checkpointer = Checkpointer(  # noqa: SLF001
            passive.store.path, passive.writer._lock,  # noqa: SLF001
            interval_s=1.0, restart_frames=sys.maxsize)
        inline = Ours(side_store(base, "inline"), args.residents, background_checkpoints=False)
        floor_dir = side_store(base, "raw")
        floor = RawSameRecord(floor_dir / "kiosk.sqlite3", args.residents)
        sides: dict[str, tuple[Callable[[], None], Path]] = {
            "restarting thread": (restarting.write, restarting.store.path),
            "passive thread": (passive.write, passive.store.path),
            "inline": (inline.write, inline.store.path),
            "raw, our record": (floor.write, floor_dir / "kiosk.sqlite3")}
        times: dict[str, list[float]] = {k: [] for k in sides}
        totals = {k: [0.0, 0.0, 0.0] for k in sides}  # wall, user, system
        for r in range(args.rounds):
            order = list(sides.items())
            if r % 2:
                order.reverse()
            for name, (fn, _) in order:
                before = resource.getrusage(resource.RUSAGE_SELF)
                t0 = time.perf_counter()
                times[name] += timed_rate(fn, args.round_s)
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_SELF)
                t = totals[name]
                t[0] += wall
                t[1] += after.ru_utime - before.ru_utime
                t[2] += after.ru_stime - before.ru_stime
        raw_rate = len(times["raw, our record"]) / totals["raw, our record"][0]
        print(f"{args.rounds} rounds of {args.round_s} s a side, {args.residents:,} residents")
        print(f"{'':18} {'writes/s':>9} {'vs raw':>7}  {'p50':>5} {'p99':>5} {'max':>6} ms"
              f"   per write (µs): wall  user  sys  wait   WAL MB")
        for name, (wall, user, system) in totals.items():
            n = len(times[name])
            q = statistics.quantiles(times[name], n=100)
            us = 1e6 / n
            wal = sides[name][1].with_name(sides[name][1].name + "-wal")
            size = wal.stat().st_size / 1e6 if wal.exists() else 0.0
            print(f"{name:18} {n / wall:9.0f} {n / wall / raw_rate:6.2f}x  "
                  f"{q[49] * 1e3:5.2f} {q[98] * 1e3:5.2f} {max(times[name]) * 1e3:6.1f}   "
                  f"{wall * us:21.0f} {user * us:5.0f} {system * us:4.0f} "
                  f"{(wall - user - system) * us:5.0f}   {size:6.1f}")
        for side in (restarting, passive, inline):
            side.close()
        floor.close()


if __name__ == "__main__":
    main()
