"""Benchmark: the nightly export of 1,000,000 gate events against the sqlite3 command-line tool.

    .venv/bin/python bench/bench_export.py [--events 1000000] [--keep DIR]

Makes a migrated store, fills it straight through sqlite3 ``executemany`` (one day, ~20,000
residents, 5 % re-measures with two readings), then times

* ``sqlite3 -csv`` running the very same SELECT the export uses (masking, local time,
  neutralisation, joins) into a file: the floor for "read the rows and write CSV";
* our ``export_day`` for the movements file alone, and for the whole export (movements,
  summary, manifest, SHA256SUMS; count and seq-range queries included);

and prints the times and the ratios (target: at most 1.5x), plus the peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.core.event import FIRST_EVENT_FIELDS  # noqa: E402
from kiosk.export.columns import movements_sql  # noqa: E402
from kiosk.export.nightly import ExportOptions, export_day  # noqa: E402
from kiosk.store.db import make_engine, open_store  # noqa: E402
from kiosk.store.events import _EVENT_COLS, _READING_COLS  # noqa: E402

DAY = date(2026, 2, 10)
RESIDENTS = 20_000
VOLUNTEERS = 50
SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂"
REASONS_DENY = ("unknown_pass", "expired", "revoked", "quota_used", "fever")


def _events(n: int, rng: random.Random) -> Iterator[tuple[list[object], list[list[object]]]]:
    device = str(uuid.UUID(int=rng.getrandbits(128)))
    start = datetime(2026, 2, 9, 23, 0, 0)  # 07:00 local (UTC+8)
    step = 14 * 3600 / n
    for i in range(1, n + 1):
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        resident = rng.randint(1, RESIDENTS)
        r = rng.random()
        visitor = r < 0.03
        if r < 0.88:
            outcome, reason = "allow", "ok"
        elif r < 0.95:
            outcome, reason = "deny", REASONS_DENY[i % len(REASONS_DENY)]
        else:
            outcome, reason = "remeasure", "fever_remeasure"
        wall = start + timedelta(seconds=i * step)
        values = {
            "id": eid, "device_id": device, "seq": i,
            "wall_utc": wall.strftime("%Y-%m-%d %H:%M:%S.%f"), "utc_offset_min": 480,
            "local_date": DAY.isoformat(), "monotonic_s": 1000.0 + i * step, "boot_id": "b1",
            "clock_state": "trusted", "checkpoint": "bench-gate", "volunteer_id": i % 50 + 1,
            "direction": "out" if i % 2 else "in", "identified_by": "qr",
            "pass_number": None if visitor else f"R{resident:07d}", "pass_id": None,
            "pass_kind": "visitor" if visitor else "resident",
            "resident_id": None if visitor else resident,
            "household": None if visitor else f"{resident // 4}",
            "visitor_name": "访客" + GIVEN[i % len(GIVEN)] if visitor else None,
            "visitor_phone": f"139{i:08d}" if visitor else None,
            "visitor_reason": "送药" if visitor else None,
            "host_building": str(resident % 99 + 1) if visitor else None,
            "outcome": outcome, "reason": reason,
            "counts_against_quota": int(outcome == "allow" and i % 2 == 1),
            "escalated": int(reason == "fever"), "fever_threshold_c": 37.3,
            "forehead_offset_c": 0.0, "corrects_event_id": None, "note": "",
            "personal_digest": "0" * 64, "prev_hash": "0" * 64, "hash": "0" * 64,
        }
        temp = round(36.0 + rng.random(), 1)
        readings = [[eid, 1, "valid", temp, 20.0, temp, "device", "bench", "gy"]]
        if outcome == "remeasure" or reason == "fever":
            readings.append([eid, 2, "valid", 37.6, 20.0, 37.6, "manual", "", ""])
        # the fields added after the codec's first version are optional: None (unsigned, not
        # a correction, ...), as an older kiosk's events have them
        yield [values[c] if c in FIRST_EVENT_FIELDS else values.get(c) for c in _EVENT_COLS], \
            readings


def fill(path: Path, n: int) -> None:
    """Write a migrated store with ``n`` events of DAY, as fast as SQLite takes them."""
    open_store(path).close()
    rng = random.Random(6)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    now = "2026-02-01 00:00:00.000000"
    con.executemany(
        "INSERT INTO residents (id, name, building, unit, room, household, phone, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?)",
        ((i, SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)]
          + GIVEN[(i // len(GIVEN)) % len(GIVEN)], str(i % 99 + 1), str(i % 4 + 1),
          f"{i % 30 + 1}{i // 30:03d}", f"{i // 4}", f"138{i:08d}", now)
         for i in range(1, RESIDENTS + 1)))
    con.executemany("INSERT INTO volunteers (id, name, role, pin_hash, active, "
                    "failed_attempts) VALUES (?,?,?,?,1,0)",
                    ((i, f"志愿者{i:02d}", "volunteer", "x") for i in range(1, VOLUNTEERS + 1)))
    ev_sql = (f"INSERT INTO gate_events ({','.join(_EVENT_COLS)}) "
              f"VALUES ({','.join('?' * len(_EVENT_COLS))})")
    rd_cols = [c for c in _READING_COLS if c != "id"]
    rd_sql = (f"INSERT INTO readings ({','.join(rd_cols)}) "
              f"VALUES ({','.join('?' * len(rd_cols))})")
    batch_e: list[list[object]] = []
    batch_r: list[list[object]] = []
    for ev, rds in _events(n, rng):
        batch_e.append(ev)
        batch_r.extend(rds)
        if len(batch_e) >= 50_000:
            con.executemany(ev_sql, batch_e)
            con.executemany(rd_sql, batch_r)
            batch_e, batch_r = [], []
    con.executemany(ev_sql, batch_e)
    con.executemany(rd_sql, batch_r)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("ANALYZE")
    con.close()


def time_sqlite_cli(db: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the sqlite3 CLI writing the movements SELECT as CSV."""
    sql = movements_sql(mask=True).replace("?", f"'{DAY.isoformat()}'", 1)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out, "wb") as fh:
        subprocess.run(["sqlite3", "-csv", "-header", "-readonly", str(db), sql], stdout=fh,
                       check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _stored_events(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM gate_events WHERE local_date = ?",
                           [DAY.isoformat()]).fetchone()[0]
    except sqlite3.Error:
        return -1
    finally:
        con.close()


def same_rows(ours: Path, cli: Path) -> bool:
    """The CLI's file and ours hold the same rows (read back by the csv module; the CLI writes
    no BOM, its own header, and quotes more than it must)."""
    with open(ours, encoding="utf-8-sig", newline="") as a, \
            open(cli, encoding="utf-8", newline="") as b:
        ra, rb = csv.reader(a), csv.reader(b)
        next(ra)
        next(rb)
        return all(x == y for x, y in itertools.zip_longest(ra, rb))


def _spread(xs: list[float]) -> str:
    return f"min {min(xs):6.2f}  median {statistics.median(xs):6.2f}  max {max(xs):6.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="keep the store and files in this directory")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: use the store already there if it holds --events events")
    ap.add_argument("--repeat", type=int, default=3, help="runs (each: CLI, then export_day)")
    ap.add_argument("--check", action="store_true",
                    help="also check that the CLI's rows and the exported rows are the same")
    args = ap.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("the sqlite3 command-line tool is needed: apt-get install -y sqlite3")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "kiosk.sqlite3"
    if args.reuse and args.keep and db.exists() and _stored_events(db) == args.events:
        print(f"reusing {db} ({args.events:,} events, {db.stat().st_size / 1e6:.0f} MB)")
    else:
        if db.exists():
            db.unlink()
        t0 = time.perf_counter()
        fill(db, args.events)
        print(f"filled {args.events:,} events in {time.perf_counter() - t0:.1f} s "
              f"({db.stat().st_size / 1e6:.0f} MB)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    engine = make_engine(db)
    cli_s, mov_s, all_s, cli_cpu, all_cpu = [], [], [], [], []
    for i in range(args.repeat):
        wall, cpu = time_sqlite_cli(db, work / "sqlite3-cli.csv")
        cli_s.append(wall)
        cli_cpu.append(cpu)
        opts = ExportOptions(label="bench-gate", actor="bench")
        c0 = _cpu()
        t0 = time.perf_counter()
        marks: dict[str, float] = {}

        def progress(_n: int, marks: dict[str, float] = marks) -> None:
            marks["last_row"] = time.perf_counter()

        def before(_cur: object, _total: int, marks: dict[str, float] = marks) -> None:
            marks["rows_start"] = time.perf_counter()

        opts.progress = progress
        result = export_day(engine, DAY, work / f"out{i}", opts, before_read=before)
        all_s.append(time.perf_counter() - t0)
        all_cpu.append(_cpu() - c0)
        mov_s.append(marks["last_row"] - marks["rows_start"])
        assert result.events == args.events
        print(f"  run {i + 1}: CLI {cli_s[-1]:6.2f} s, export_day {all_s[-1]:6.2f} s "
              f"({all_s[-1] / cli_s[-1]:.2f}x; CPU {all_cpu[-1] / cli_cpu[-1]:.2f}x), "
              f"movements file {mov_s[-1]:6.2f} s ({mov_s[-1] / cli_s[-1]:.2f}x)")
    engine.dispose()
    movements = work / "out0" / "movements_bench-gate_2026-02-10.csv"
    size = movements.stat().st_size
    ratios = [a / c for a, c in zip(all_s, cli_s, strict=True)]
    print(f"events exported            : {args.events:,} ({size / 1e6:.0f} MB CSV)")
    print(f"sqlite3 -csv, same SELECT  : {_spread(cli_s)} s")
    print(f"export_day, movements file : {_spread(mov_s)} s")
    print(f"export_day, everything     : {_spread(all_s)} s")
    print(f"ratio, movements file      : best {min(mov_s) / min(cli_s):.2f}x "
          f"(best of each; target <= 1.5x)")
    print(f"ratio, everything          : best {min(all_s) / min(cli_s):.2f}x, per run "
          f"{' '.join(f'{r:.2f}x' for r in ratios)} (target <= 1.5x)")
    print(f"CPU time, everything       : {min(all_cpu):.2f} s vs CLI {min(cli_cpu):.2f} s, "
          f"{min(all_cpu) / min(cli_cpu):.2f}x (best of each)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {rss:.0f} MB ({args.repeat} runs)")
    print(f"load average after : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.check:
        ok = same_rows(movements, work / "sqlite3-cli.csv")
        print(f"CLI rows == exported rows  : {ok}")
        if not ok:
            sys.exit(1)
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
