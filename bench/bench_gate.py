"""Benchmark: one movement (decision + durable record) on a 1,000,000-resident store.

Prints, in one run, our p50/p99 latency for ``Gate.check`` and our durable event write rate,
next to the same work done with raw sqlite3 (an indexed pass look-up plus one WAL insert with
synchronous=FULL, committed), as ratios. Targets: p99 within 3x of raw; write rate at least
half of raw's. Usage: python bench/bench_gate.py [--residents N] [--moves N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.store.db import open_store
from kiosk.store.events import Movement, record_event
from kiosk.sysclock import sample


def fill(db: Path, residents: int) -> None:
    """Bulk-load the roster straight into the migrated schema (the importer is not what is
    measured here)."""
    con = sqlite3.connect(db)
    if con.execute("SELECT count(*) FROM passes").fetchone()[0] >= residents:
        con.close()
        return
    today, now = date.today(), datetime.now()
    vf, vt = (today - timedelta(days=10)).isoformat(), (today + timedelta(days=30)).isoformat()
    con.execute("PRAGMA synchronous=OFF")
    batch = 50_000
    for start in range(0, residents, batch):
        n = range(start, min(start + batch, residents))
        con.executemany(
            "INSERT INTO residents(id,name,building,unit,room,household,phone,updated_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(i + 1, f"居民{i}", str(i // 2000), str(i // 400 % 5), str(i // 3 % 200),
              f"H{i // 3}", "13800000000", now) for i in n])
        con.executemany(
            "INSERT INTO passes(id,number,kind,valid_from,valid_to,revoked,resident_id,"
            "updated_at) VALUES (?,?,?,?,?,0,?,?)",
            [(i + 1, f"R{i:07d}", "resident", vf, vt, i + 1, now) for i in n])
        con.commit()
    con.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def ours(data_dir: Path, residents: int, moves: int) -> tuple[list[float], float]:
    settings = settings_mod.load(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    gate = Gate(store, settings)
    rng = random.Random(7)
    lat = []
    for _ in range(moves):
        number = f"R{rng.randrange(residents):07d}"
        direction = rng.choice((Direction.IN, Direction.OUT))
        t0 = time.perf_counter()
        gate.check(number, [make_reading(36.5)], direction=direction)
        lat.append(time.perf_counter() - t0)
    # durable write rate: record_event alone, back to back, for ~2 s
    mv = Movement(checkpoint="bench", direction=Direction.IN, decision=Decision(Outcome.ALLOW,
                  Reason.OK), readings=[make_reading(36.5)], policy=gate.policy,
                  identified_by="bench", pass_number="R0000001")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        record_event(store.engine, settings.device.id, mv, sample(), None)
        n += 1
    rate = n / (time.perf_counter() - t0)
    store.close()
    return lat, rate


def raw(db: Path, residents: int, moves: int) -> tuple[list[float], float]:
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("DROP TABLE IF EXISTS raw_events")
    con.execute("CREATE TABLE raw_events(id TEXT PRIMARY KEY, pass_id INTEGER, "
                "direction TEXT, wall TEXT, temp REAL, outcome TEXT)")
    rng = random.Random(7)
    lat = []
    for i in range(moves):
        number = f"R{rng.randrange(residents):07d}"
        t0 = time.perf_counter()
        row = con.execute("SELECT id, valid_to, revoked FROM passes WHERE number=?",
                          (number,)).fetchone()
        con.execute("BEGIN")
        con.execute("INSERT INTO raw_events VALUES (?,?,?,?,?,?)",
                    (f"l{i}", row[0], "in", datetime.now().isoformat(), 36.5, "allow"))
        con.execute("COMMIT")
        lat.append(time.perf_counter() - t0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        con.execute("BEGIN")
        con.execute("INSERT INTO raw_events VALUES (?,?,?,?,?,?)",
                    (f"w{n}", 1, "in", datetime.now().isoformat(), 36.5, "allow"))
        con.execute("COMMIT")
        n += 1
    rate = n / (time.perf_counter() - t0)
    con.close()
    return lat, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--moves", type=int, default=2000)
    ap.add_argument("--keep", type=Path, help="reuse/keep the store in this directory")
    args = ap.parse_args()
    tmp = None
    if args.keep:
        data_dir = args.keep
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        data_dir = Path(tmp.name)
    settings_mod.load(data_dir)
    open_store(data_dir / "kiosk.sqlite3").close()
    t0 = time.perf_counter()
    fill(data_dir / "kiosk.sqlite3", args.residents)
    print(f"store: {args.residents:,} residents and passes ({time.perf_counter() - t0:.1f} s "
          f"to load), {args.moves} movements each")
    o_lat, o_rate = ours(data_dir, args.residents, args.moves)
    r_lat, r_rate = raw(data_dir / "kiosk.sqlite3", args.residents, args.moves)
    ms = 1000.0
    print(f"{'':28} {'ours':>10} {'raw sqlite3':>12} {'ratio':>7}")
    for label, q in (("movement p50 (ms)", 50), ("movement p99 (ms)", 99)):
        a, b = pct(o_lat, q) * ms, pct(r_lat, q) * ms
        print(f"{label:28} {a:10.3f} {b:12.3f} {a / b:6.2f}x")
    print(f"{'durable writes / s':28} {o_rate:10.0f} {r_rate:12.0f} {o_rate / r_rate:6.2f}x")
    print("targets: p99 ratio <= 3x; write-rate ratio >= 0.5x")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
