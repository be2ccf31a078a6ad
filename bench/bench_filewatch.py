"""What the database-file watch (kiosk.store.db.FileWatch) costs the gate's durable writes.

One process, one store: rounds of 0.4 s of ``EventWriter.record`` back to back (synchronous
=FULL, as at the gate) for each side, interleaved and in alternating order, so a busy moment
of the machine hurts every side alike:

- ``notices``: the watch as the kiosk runs it on Linux (inotify: one ``ioctl`` per write);
- ``stat``: the watch looking at both files at every write (another OS, no inotify);
- ``no watch``: a writer whose check does nothing (what the watch costs, at most);
- ``raw, our record``: raw sqlite3 writing exactly our rows (bench_gate.RawSameRecord).

Prints writes per second, their ratio to raw, and the wall, user, system and waiting time
per write (getrusage). Then the check alone. A benchmark: prints numbers, asserts nothing.

    .venv/bin/python bench/bench_filewatch.py [--rounds 12] [--residents 20000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from bench_gate import Ours, RawSameRecord, fill, rate

from kiosk import settings as settings_mod
from kiosk.store import db as store_db
from kiosk.store.db import FileWatch, open_store


class _NoWatch:
    def check(self) -> None:
        """Nothing: the writer without a watch."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--residents", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-filewatch-") as tmp:
        d = Path(tmp)
        settings_mod.load(d)
        db = d / "kiosk.sqlite3"
        open_store(db).close()
        fill(db, args.residents)
        notices = Ours(d, args.residents)
        stat = Ours(d, args.residents)
        stat_watch = FileWatch(db)
        stat_watch._stop_notices()  # noqa: SLF001 (what the watch does without inotify)
        stat.writer._watch = stat_watch  # noqa: SLF001
        unwatched = Ours(d, args.residents)
        unwatched.writer._watch = _NoWatch()  # type: ignore[assignment]  # noqa: SLF001
        floor = RawSameRecord(db, args.residents)
        sides: dict[str, Callable[[], None]] = {
            "notices": notices.write, "stat": stat.write, "no watch": unwatched.write,
            "raw, our record": floor.write}
        totals = {k: [0.0, 0.0, 0.0, 0.0] for k in sides}  # writes, wall, user, system
        for r in range(args.rounds):
            order = list(sides.items())
            if r % 2:
                order.reverse()
            for name, fn in order:
                before = resource.getrusage(resource.RUSAGE_SELF)
                n, wall = rate(fn, 0.4)
                after = resource.getrusage(resource.RUSAGE_SELF)
                t = totals[name]
                t[0] += n
                t[1] += wall
                t[2] += after.ru_utime - before.ru_utime
                t[3] += after.ru_stime - before.ru_stime
        raw_rate = totals["raw, our record"][0] / totals["raw, our record"][1]
        print(f"{'':16} {'writes/s':>9} {'vs raw':>7}   per write (µs): wall  user  sys  wait")
        for name, (n, wall, user, system) in totals.items():
            us = 1e6 / n
            print(f"{name:16} {n / wall:9.0f} {n / wall / raw_rate:6.2f}x   "
                  f"{wall * us:21.0f} {user * us:5.0f} {system * us:4.0f} "
                  f"{(wall - user - system) * us:5.0f}")
        count = 100_000
        for label, watch in (("notices", store_db.file_watch(db)), ("stat", stat_watch)):
            per = timeit.timeit(watch.check, number=count) / count * 1e6
            print(f"the check alone, {label}: {per:.1f} µs")
        for side in (notices, stat, unwatched, floor):
            side.close()


if __name__ == "__main__":
    main()
