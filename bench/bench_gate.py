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
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.store.db import open_store
from kiosk.store.events import EventWriter, Movement
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


ROUNDS = 5


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


class Ours:
    """Gate.check (identify, quota look-up, decide, durable record) and EventWriter.record."""

    def __init__(self, data_dir: Path, residents: int) -> None:
        self.settings = settings_mod.load(data_dir)
        self.store = open_store(data_dir / "kiosk.sqlite3")
        self.gate = Gate(self.store, self.settings)
        self.writer = EventWriter(self.store.engine)
        self.residents = residents
        self.rng = random.Random(7)
        self.mv = Movement(checkpoint="bench", direction=Direction.IN,
                           decision=Decision(Outcome.ALLOW, Reason.OK),
                           readings=[make_reading(36.5)], policy=self.gate.policy,
                           identified_by="bench", pass_number="R0000001")

    def movement(self) -> None:
        number = f"R{self.rng.randrange(self.residents):07d}"
        direction = self.rng.choice((Direction.IN, Direction.OUT))
        self.gate.check(number, [make_reading(36.5)], direction=direction)

    def write(self) -> None:
        self.writer.record(self.settings.device.id, self.mv, sample(), None)

    def close(self) -> None:
        self.writer.close()
        self.gate.close()
        self.store.close()


class Raw:
    """The same work in raw sqlite3, same durability (WAL, synchronous=FULL): an indexed
    pass look-up plus one small insert, committed."""

    def __init__(self, db: Path, residents: int) -> None:
        self.con = sqlite3.connect(db, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=FULL")
        self.con.execute("DROP TABLE IF EXISTS raw_events")
        self.con.execute("CREATE TABLE raw_events(id TEXT PRIMARY KEY, pass_id INTEGER, "
                         "direction TEXT, wall TEXT, temp REAL, outcome TEXT)")
        self.residents = residents
        self.rng = random.Random(7)
        self.n = 0

    def _insert(self, pass_id: int) -> None:
        self.n += 1
        self.con.execute("BEGIN")
        self.con.execute("INSERT INTO raw_events VALUES (?,?,?,?,?,?)",
                         (f"e{self.n}", pass_id, "in", datetime.now().isoformat(), 36.5,
                          "allow"))
        self.con.execute("COMMIT")

    def movement(self) -> None:
        number = f"R{self.rng.randrange(self.residents):07d}"
        row = self.con.execute("SELECT id, valid_to, revoked FROM passes WHERE number=?",
                               (number,)).fetchone()
        self._insert(row[0])

    def write(self) -> None:
        self._insert(1)

    def close(self) -> None:
        self.con.execute("DROP TABLE raw_events")
        self.con.close()


def timed(fn: Callable[[], None], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def rate(fn: Callable[[], None], seconds: float) -> tuple[int, float]:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n, time.perf_counter() - t0


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
    ours, raw = Ours(data_dir, args.residents), Raw(data_dir / "kiosk.sqlite3", args.residents)
    # interleaved rounds, so a busy moment of the machine hurts both sides alike
    o_lat: list[float] = []
    r_lat: list[float] = []
    o_n = r_n = 0
    o_t = r_t = 0.0
    for _ in range(ROUNDS):
        o_lat += timed(ours.movement, args.moves // ROUNDS)
        r_lat += timed(raw.movement, args.moves // ROUNDS)
        n, t = rate(ours.write, 0.4)
        o_n, o_t = o_n + n, o_t + t
        n, t = rate(raw.write, 0.4)
        r_n, r_t = r_n + n, r_t + t
    ours.close()
    raw.close()
    o_rate, r_rate = o_n / o_t, r_n / r_t
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
