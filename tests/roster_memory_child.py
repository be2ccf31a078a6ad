"""Child process for the roster memory test and bench: writes a generated roster of N rows,
imports it with ``kiosk.store.importer`` and prints its peak RSS (MB) after each phase.

Run as ``python tests/roster_memory_child.py DIR ROWS``: a fresh process, so the peak is this
import's and nothing else's."""

from __future__ import annotations

import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

HEADER = "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"


def write_roster(path: Path, rows: int) -> None:
    """``rows`` residents, four to a room, 20 rooms to a unit, 6 units to a building."""
    start, end = date.today() - timedelta(days=10), date.today() + timedelta(days=90)
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            room, unit, building = (i // 4) % 20 + 101, (i // 80) % 6 + 1, i // 480 + 1
            f.write(f"居民{i:08d},{building},{unit},{room},{building}-{unit}-{room},"
                    f"138{i:08d},R{i:09d},resident,{start},{end}\n")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from kiosk.store.db import open_store
    from kiosk.store.importer import import_roster

    work, rows = Path(sys.argv[1]), int(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    roster = work / "roster.csv"
    if not roster.exists():
        write_roster(roster, rows)
    store = open_store(work / "kiosk.sqlite3")
    base = peak_mb()
    t0 = time.perf_counter()
    dry = import_roster(store.engine, roster, dry_run=True)
    t1 = time.perf_counter()
    dry_peak = peak_mb()
    report = import_roster(store.engine, roster)
    t2 = time.perf_counter()
    assert report.committed and report.passes_added == rows, report
    assert not dry.committed and dry.rows == rows
    store.close()
    print(f"{roster.stat().st_size / 1e6:.1f} {base:.1f} {dry_peak:.1f} {peak_mb():.1f} "
          f"{t1 - t0:.2f} {t2 - t1:.2f}")


if __name__ == "__main__":
    main()
