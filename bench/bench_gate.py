"""Benchmark: one movement (decision + durable record) on a 1,000,000-resident store.

Prints, in one run, our p50/p99 latency for ``Gate.check`` and our durable event write rate,
next to the same work done with raw sqlite3 (an indexed pass look-up plus one WAL insert with
synchronous=FULL, committed), and next to raw sqlite3 writing exactly our record, as ratios.
Targets (issue 10), against raw writing our record: p99 at most 2x; write rate at least 0.7x.
"ours, signed" is the same store copied into a data directory that holds a device key
(kiosk.store.devicekey), so every event is also signed (Ed25519): what signing adds to the
gate's write path, measured in the same interleaved rounds.
Each side writes a copy of the store of its own (``--shared-file``: one file, as until
session 7), so no side folds the WAL frames another left.
Usage: python bench/bench_gate.py [--residents N] [--moves N] [--keep DIR] [--inline-checkpoints]
       [--shared-file]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
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
from kiosk.store.devicekey import ensure_key
from kiosk.store.events import (
    _EVENT_COLS,
    _INSERT_EVENT,
    _INSERT_OUTBOX,
    _INSERT_READING,
    EventWriter,
    Movement,
)
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

    def __init__(self, data_dir: Path, residents: int, *,
                 background_checkpoints: bool = True) -> None:
        self.settings = settings_mod.load(data_dir)
        self.store = open_store(data_dir / "kiosk.sqlite3")
        self.gate = Gate(self.store, self.settings)
        self.writer = EventWriter(self.store.path, background_checkpoints=background_checkpoints)
        self.residents = residents
        self.rng = random.Random(7)
        self.mv = Movement(checkpoint="bench", direction=Direction.IN,
                           decision=Decision(Outcome.ALLOW, Reason.OK),
                           readings=[make_reading(36.5)], policy=self.gate.policy,
                           identified_by="scanner", pass_number="R0000000", pass_id=1,
                           pass_kind="resident", resident_id=1, household="H0")

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


class RawSameRecord(Raw):
    """Raw sqlite3 writing exactly our record (the event row with all its columns and
    indexes, its reading and its outbox row) with no Python layer: the floor any
    implementation of this record can reach on this disk. Its values are as long as ours
    (a UUID for the device and the boot, as a kiosk has) and name the same pass, resident
    and household as ``Ours.write``'s: the same bytes in the same rows and index entries."""

    SEQ_BASE = 1_000_000_000  # own sequence range (the outbox is keyed by seq)

    def __init__(self, db: Path, residents: int) -> None:
        super().__init__(db, residents)
        self.con.execute("PRAGMA foreign_keys=ON")  # the store's constraints, as ours checks
        self.template: dict[str, object] = {c: None for c in _EVENT_COLS}
        self.template.update(
            device_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "raw-floor")),
            wall_utc="2026-01-01 00:00:00.000000", utc_offset_min=480,
            local_date="2026-01-01", monotonic_s=1.0, boot_id=str(uuid.uuid4()),
            clock_state="trusted",
            checkpoint="bench", direction="in", identified_by="bench", outcome="allow",
            reason="ok", counts_against_quota=0, escalated=0, fever_threshold_c=37.3,
            forehead_offset_c=0.0, note="", prev_hash="0" * 64, hash="0" * 64,
            personal_digest="0" * 64, pass_kind="resident",
        )
        # go on after the rows of an earlier run on a kept store (--keep)
        last = self.con.execute("SELECT max(seq) FROM gate_events WHERE device_id = ?",
                                ("raw-floor",)).fetchone()[0]
        self.n = (last - self.SEQ_BASE) if last else 0

    def _insert(self, pass_id: int) -> None:
        self.n += 1
        seq = self.SEQ_BASE + self.n
        event_id = str(uuid.uuid4())
        row = {**self.template, "id": event_id, "seq": seq, "pass_id": pass_id,
               "pass_number": f"R{pass_id - 1:07d}",  # fill(): pass i + 1 is R{i}
               "household": f"H{(pass_id - 1) // 3}",
               "resident_id": pass_id}
        self.con.execute("BEGIN IMMEDIATE")
        self.con.execute(_INSERT_EVENT, [row[c] for c in _EVENT_COLS])
        self.con.execute(_INSERT_READING, [event_id, 1, "valid", 36.5, None, 36.5, "device",
                                           "", ""])
        self.con.execute(_INSERT_OUTBOX, (event_id, seq))
        self.con.execute("COMMIT")

    def close(self) -> None:
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


def _copy(db: Path, directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    shutil.copyfile(db, directory / db.name)
    return directory / db.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--moves", type=int, default=2000)
    ap.add_argument("--keep", type=Path, help="reuse/keep the store in this directory")
    ap.add_argument("--inline-checkpoints", action="store_true",
                    help="the write-rate writers checkpoint inside their commits (SQLite's "
                         "default) instead of in the background thread the app uses: what "
                         "that thread costs the write rate")
    ap.add_argument("--shared-file", action="store_true",
                    help="ours and both raw sides write one file, as in sessions 4-7 (each "
                         "side then also folds the WAL frames the side before it left)")
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
    db = data_dir / "kiosk.sqlite3"
    signed_dir = data_dir / "signed"
    signed_dir.mkdir(exist_ok=True)
    shutil.copyfile(db, signed_dir / "kiosk.sqlite3")
    ensure_key(signed_dir)
    background = not args.inline_checkpoints
    # each side writes a copy of its own: one side's WAL is never another's to fold
    raw_db, floor_db = (db, db) if args.shared_file else (
        _copy(db, data_dir / "raw"), _copy(db, data_dir / "floor"))
    sides: dict[str, Ours | Raw] = {"ours": Ours(data_dir, args.residents,
                                                 background_checkpoints=background),
             "raw": Raw(raw_db, args.residents),
             "floor": RawSameRecord(floor_db, args.residents),
             "signed": Ours(signed_dir, args.residents, background_checkpoints=background)}
    # interleaved rounds, so a busy moment of the machine hurts every side alike
    lat: dict[str, list[float]] = {k: [] for k in sides}
    writes = {k: [0, 0.0] for k in sides}
    for _ in range(ROUNDS):
        for name, side in sides.items():
            lat[name] += timed(side.movement, args.moves // ROUNDS)
            n, t = rate(side.write, 0.4)
            writes[name][0] += n
            writes[name][1] += t
    for side in sides.values():
        side.close()
    rates = {k: n / t for k, (n, t) in writes.items()}
    ms = 1000.0
    print(f"{'':22} {'ours':>9} {'raw sqlite3':>12} {'ratio':>7}   {'raw, our record':>15} "
          f"{'ratio':>7}")
    for label, q in (("movement p50 (ms)", 50), ("movement p99 (ms)", 99)):
        a, b, c = (pct(lat[k], q) * ms for k in ("ours", "raw", "floor"))
        print(f"{label:22} {a:9.3f} {b:12.3f} {a / b:6.2f}x   {c:15.3f} {a / c:6.2f}x")
    a, b, c = rates["ours"], rates["raw"], rates["floor"]
    print(f"{'durable writes / s':22} {a:9.0f} {b:12.0f} {a / b:6.2f}x   {c:15.0f} {a / c:6.2f}x")
    print("targets (vs raw sqlite3 writing our record): p99 ratio <= 2x; write-rate ratio >= 0.7x")
    print("\nsigned (Ed25519 on every event) against unsigned, same rounds:")
    for label, q in (("movement p50 (ms)", 50), ("movement p99 (ms)", 99)):
        a, b = (pct(lat[k], q) * ms for k in ("ours", "signed"))
        print(f"{label:22} {a:9.3f} -> {b:9.3f}  ({b - a:+.3f} ms)")
    a, b = rates["ours"], rates["signed"]
    print(f"{'durable writes / s':22} {a:9.0f} -> {b:9.0f}  ({b / a:.2f}x)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
