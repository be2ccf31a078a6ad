"""Benchmark: CPU time per gate operation, next to raw sqlite3 writing the same record.

Wall-clock rates on a shared machine mostly measure the other processes and the disk; the
Python a write costs is what this code decides. So this measures ``time.process_time`` per
operation (the minimum of the rounds' means, and their median), with ``synchronous=OFF`` on
every side so no fsync is counted, for:

- ``record``: ``EventWriter.record`` (build, check, hash, insert event + reading + outbox,
  commit), unsigned and signed (a device key beside the store);
- ``movement``: ``Gate.check`` (look-ups, decision, record);
- ``raw record``: raw sqlite3 writing exactly our rows (bench_gate.RawSameRecord);
- ``raw movement``: an indexed pass look-up plus that record.

Run it against another tree's code with ``PYTHONPATH=/path/to/tree`` (the script itself
only needs the names bench_gate imports), alternating, to compare in the same minutes.
Usage: python bench/bench_write_cpu.py [--residents N] [--ops N] [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
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
from kiosk.store.devicekey import ensure_key


def cpu_per_op(fn: Callable[[], None], ops: int) -> tuple[float, float]:
    """CPU seconds per call: the whole process's (the WAL checkpointer thread included),
    and the calling thread's alone."""
    t0, th0 = time.process_time(), time.thread_time()
    for _ in range(ops):
        fn()
    return (time.process_time() - t0) / ops, (time.thread_time() - th0) / ops


def unsynced(side: Ours) -> Ours:
    """No fsync on our connections either (the reference runs with synchronous=OFF too)."""
    for con in (side.writer._con, side.gate._writer._con):  # noqa: SLF001
        con.execute("PRAGMA synchronous=OFF")
    return side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--residents", type=int, default=20_000)
    ap.add_argument("--ops", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true",
                    help="also print cProfile of 2,000 records and 2,000 movements")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings_mod.load(data_dir)
        db = data_dir / "kiosk.sqlite3"
        open_store(db).close()
        fill(db, args.residents)
        signed_dir = data_dir / "signed"
        signed_dir.mkdir()
        shutil.copyfile(db, signed_dir / "kiosk.sqlite3")
        ensure_key(signed_dir)
        ours = unsynced(Ours(data_dir, args.residents))
        signed = unsynced(Ours(signed_dir, args.residents))
        raw = RawSameRecord(db, args.residents)
        raw.con.execute("PRAGMA synchronous=OFF")
        sides: dict[str, Callable[[], None]] = {
            "record": ours.write, "record, signed": signed.write, "raw record": raw.write,
            "movement": ours.movement, "raw movement": raw.movement}
        for fn in sides.values():  # warm caches and the first-event imports
            for _ in range(50):
                fn()
        # a data directory changed within the last second is looked at for a new device key
        # at every event (kiosk.store.events._SETTLED_NS): measure the settled state
        time.sleep(1.1)
        per: dict[str, list[float]] = {k: [] for k in sides}
        own: dict[str, list[float]] = {k: [] for k in sides}
        for _ in range(args.rounds):  # interleaved: a busy moment hurts every side alike
            for name, fn in sides.items():
                process, thread = cpu_per_op(fn, args.ops)
                per[name].append(process)
                own[name].append(thread)
        print(f"CPU per operation (us), {args.rounds} x {args.ops}, synchronous=OFF, "
              f"{args.residents:,} residents; python {sys.version.split()[0]}")
        print(f"{'':16} {'min':>7} {'median':>7}  {'thread':>7}  process, each round")
        for name, v in per.items():
            print(f"{name:16} {min(v) * 1e6:7.1f} {statistics.median(v) * 1e6:7.1f}  "
                  f"{min(own[name]) * 1e6:7.1f}  " + " ".join(f"{x * 1e6:.0f}" for x in v))
        print("(min, median: process CPU, the background WAL checkpointer included; thread: "
              "the calling thread's alone, min)")
        print(f"record / raw record (min): {min(per['record']) / min(per['raw record']):.2f}x;"
              f" movement / raw movement (min): "
              f"{min(per['movement']) / min(per['raw movement']):.2f}x")
        if args.profile:
            for name in ("record", "movement"):
                prof = cProfile.Profile()
                prof.runcall(cpu_per_op, sides[name], 2000)
                print(f"\n--- cProfile, 2,000 x {name}")
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        for side in (ours, signed):
            side.close()
        raw.close()


if __name__ == "__main__":
    main()
