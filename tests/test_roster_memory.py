"""A district roster must fit in a Pi's memory: the import streams the file, so ten times
the rows costs only a few more megabytes (a 200 MB roster once took 2.8 GB for a dry run and
4.8 GB for the import; bench/bench_roster.py measures that size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = Path(__file__).with_name("roster_memory_child.py")


def _peaks(work: Path, rows: int) -> tuple[float, float, float]:
    """(before, after the dry run, after the import) peak RSS of a fresh process, in MB."""
    out = subprocess.run([sys.executable, str(CHILD), str(work), str(rows)], check=True,
                         capture_output=True, text=True, timeout=120).stdout.split()
    return float(out[1]), float(out[2]), float(out[3])


def test_ten_times_the_roster_costs_only_a_few_megabytes_more(tmp_path):
    _, small_dry, small_import = _peaks(tmp_path / "small", 3_000)
    _, big_dry, big_import = _peaks(tmp_path / "big", 30_000)
    # 27,000 more rows held in memory would be ~30 MB more (the old import: +70 MB)
    assert big_dry - small_dry < 12, (small_dry, big_dry)
    assert big_import - small_import < 12, (small_import, big_import)
