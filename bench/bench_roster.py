"""Roster import memory benchmark: peak RSS for a generated 200 MB roster (~2.3 million rows),
dry run and import, each in a fresh process (tests/roster_memory_child.py).

The goal: at most 300 MB on a Raspberry Pi, whatever the file's size (the old import held
every row in memory: 2.8 GB for the dry run and 4.8 GB for the import). A benchmark: prints
numbers, asserts nothing.

    .venv/bin/python bench/bench_roster.py [--mb 200]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = REPO / "tests" / "roster_memory_child.py"
#: bytes per generated roster row (see roster_memory_child.write_roster)
ROW_BYTES = 87


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200.0, help="size of the roster file (MB)")
    args = ap.parse_args()
    rows = int(args.mb * 1e6 / ROW_BYTES)
    with tempfile.TemporaryDirectory(prefix="bench-roster-") as tmp:
        out = subprocess.run([sys.executable, str(CHILD), tmp, str(rows)], check=True,
                             capture_output=True, text=True).stdout.split()
    size, base, dry, full, t_dry, t_import = (float(x) for x in out)
    print(f"roster: {size:.0f} MB, {rows:,} rows")
    print(f"peak RSS: {base:.0f} MB after start-up, {dry:.0f} MB after the dry run "
          f"({t_dry:.0f} s), {full:.0f} MB after the import ({t_import:.0f} s)")
    print(f"goal: at most 300 MB: {'met' if full <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()
