"""Benchmark: the dashboard's overview and drill-downs on PostgreSQL with 14 days of a
district (issue 15 point 8: 365 gates x 2,000 movements a day is about 10 million events;
target: under 300 ms p95).

    .venv/bin/python bench/bench_dashboard.py [--events 1000000,5000000] [--runs 15]

Starts a throw-away PostgreSQL cluster (the test kit's; fsync off while loading, which does
not change read times), migrates a central store, enrols 365 gates in 73 compounds, and fills
``events`` inside PostgreSQL (INSERT ... SELECT from generate_series, per day's partition:
faster than COPY from Python, no rows through the client). Sizes are cumulative: each step
adds events spread over the same 14 days, recounts the dashboard's kept counts from them
(kiosk.server.tallies.rebuild, as migration 0006 does; ingest keeps them event by event),
ANALYZEs, then times what each page reads
(kiosk.server.web.queries.view and the open fever cases; rendering is not included):

* the overview (the district), a compound, a gate, the first page of "who is out", and
  "who is out" counted (a part of every view).

It prints p50 and p95 per page and size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sync"))

from sqlalchemy import Engine, insert, text  # noqa: E402
from sync_testkit import PostgresCluster, postgres_bin  # noqa: E402

from kiosk.server import cases, tallies  # noqa: E402
from kiosk.server.db import Partitions, open_server_store  # noqa: E402
from kiosk.server.ingest import DEV  # noqa: E402
from kiosk.server.web import queries  # noqa: E402
from kiosk.server.web.queries import Scope  # noqa: E402
from kiosk.server.web.settings import DashboardSettings  # noqa: E402

GATES = 365
PER_COMPOUND = 5
DAYS = 14
RESIDENTS_PER_COMPOUND = 3000
FEVER_RATE = 0.00005
SETTINGS = DashboardSettings(ZoneInfo("Asia/Shanghai"))


def _enrol(engine: Engine) -> None:
    now = datetime.now()
    with engine.begin() as conn:
        conn.execute(insert(DEV), [{
            "id": f"dev-{g}", "checkpoint": f"G{g % PER_COMPOUND}",
            "compound": f"C{g // PER_COMPOUND}", "secret_hash": uuid.uuid4().hex * 2,
            "enrolled_at": now, "active": True, "last_contact": now, "pending": 0,
            "quarantined": 0, "last_seq": 0, "gaps": "[]", "clock_offset_s": 0.0}
            for g in range(GATES)])


FILL = text("""
INSERT INTO events (local_date, id, device_id, seq, wall_utc, checkpoint, compound,
                    direction, pass_number, household, outcome, reason,
                    counts_against_quota, escalated, prev_hash, hash, record, received_at,
                    change_id)
SELECT CAST(:day AS date), gen_random_uuid()::text, 'dev-' || g, :base + i,
       CAST(:day AS timestamp) - interval '1 hour' + t * interval '14 hours',
       'G' || (g % 5), 'C' || (g / 5), CASE WHEN r < 0.5 THEN 'in' ELSE 'out' END,
       'R' || (g / 5) || '-' || p, 'H' || (g / 5) || '-' || (p / 3),
       CASE WHEN r2 < 0.03 THEN 'deny' ELSE 'allow' END,
       CASE WHEN r2 < 0.03 THEN 'quota_used' ELSE 'ok' END,
       r2 >= 0.03, r3 < :fever, repeat('0', 64), repeat('1', 64), '{"readings": []}',
       now(), :base + i
FROM (SELECT i, i % 365 AS g, random() AS r, random() AS r2, random() AS r3, random() AS t,
             floor(random() * :residents)::int AS p
      FROM generate_series(1, :n) AS i) AS x
""")


def _fill(engine: Engine, n: int, base: int) -> float:
    today = SETTINGS.today()
    days = [today - timedelta(days=d) for d in range(DAYS)]
    Partitions(engine).ensure(days)
    t0 = time.perf_counter()
    per_day = n // DAYS
    for k, day in enumerate(days):
        with engine.begin() as conn:
            conn.execute(FILL, {"day": day.isoformat(), "n": per_day,
                                "base": base + k * per_day, "fever": FEVER_RATE,
                                "residents": RESIDENTS_PER_COMPOUND})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE events"))
    return time.perf_counter() - t0


def _recount(engine: Engine) -> float:
    """The kept counts of every event loaded (ingest keeps them event by event; bulk-loaded
    rows are counted as migration 0006 counts the events already stored)."""
    t0 = time.perf_counter()
    with engine.begin() as conn:
        tallies.rebuild(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for t in tallies.KEPT:
            conn.execute(text(f"ANALYZE {t.name}"))
    return time.perf_counter() - t0


def _time(fn: object, runs: int) -> tuple[float, float]:
    assert callable(fn)
    fn()  # warm
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        took.append((time.perf_counter() - t0) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, round(0.95 * (len(took) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", default="1000000,5000000",
                    help="cumulative sizes, comma-separated (e.g. 1000000,5000000,10000000)")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    bindir = postgres_bin()
    if bindir is None:
        sys.exit("PostgreSQL is not installed (scripts/bootstrap installs postgresql-15)")
    cluster = PostgresCluster(bindir).start()
    try:
        engine = open_server_store(cluster.new_database("bench"))
        _enrol(engine)
        today = SETTINGS.today()
        pages = {
            "overview": lambda: (queries.view(engine, SETTINGS, Scope(), today),
                                 cases.open_cases(engine, SETTINGS)),
            "compound": lambda: (queries.view(engine, SETTINGS, Scope("C7"), today),
                                 cases.open_cases(engine, SETTINGS, "C7")),
            "gate": lambda: (queries.view(engine, SETTINGS, Scope("C7", "G2"), today),
                             cases.open_cases(engine, SETTINGS, "C7", "G2")),
            "out page 1": lambda: _out_page(engine),
            "out count": lambda: _out_count(engine),
        }
        have = 0
        print(f"{'events':>11} {'load s':>7} {'count s':>7}  " + "  ".join(
            f"{p:>20}" for p in pages) + "   (p50 / p95 ms)")
        for size in (int(s) for s in args.events.split(",")):
            load = _fill(engine, size - have, have)
            recount = _recount(engine)
            have = size
            cols = []
            for fn in pages.values():
                p50, p95 = _time(fn, args.runs)
                cols.append(f"{p50:9.0f} / {p95:8.0f}")
            print(f"{size:>11,} {load:7.0f} {recount:7.0f}  " + "  ".join(cols), flush=True)
        engine.dispose()
    finally:
        cluster.stop()


def _out_page(engine: Engine) -> object:
    with engine.connect() as conn:
        return queries.out_now_page(conn, SETTINGS, Scope(), SETTINGS.today(), 0,
                                    queries.OUT_PAGE)


def _out_count(engine: Engine) -> object:
    """Who is out, counted (twice in each view: the count and the first ten)."""
    with engine.connect() as conn:
        return queries.out_now_counts(conn, Scope(), SETTINGS.today())


if __name__ == "__main__":
    main()
