"""Benchmark: a week offline (100,000 queued events) pushed through the real HTTP path into
PostgreSQL, beside a raw psycopg COPY of the same rows; then the server's ingest rate with 10
kiosks pushing at once.

Starts its own PostgreSQL (default durability settings: fsync on) and ``kiosk serve`` on
127.0.0.1, like the tests. Target: the 100k push in under 10 s. The week is pushed twice in
the same run: recorded by a kiosk without a device key (unsigned, as before keys) and by one
with a key (every event signed, every signature verified at ingest); and the ingest checks
alone (hashes, then hashes and signatures) are timed in this process. Each push also prints
the CPU-seconds the kiosk, the server and PostgreSQL spent on it (what the path costs, whatever
else the machine runs), beside the raw COPY's.
Usage: python bench/bench_sync.py [--events N] [--kiosks K] [--per-kiosk N] [--workers W]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sync"))

from sync_testkit import CentralServer, PostgresCluster, postgres_bin  # noqa: E402

from kiosk import settings as settings_mod  # noqa: E402
from kiosk.core.clock import ClockSample  # noqa: E402
from kiosk.core.decision import Decision, Outcome  # noqa: E402
from kiosk.core.messages import Reason  # noqa: E402
from kiosk.core.model import Direction  # noqa: E402
from kiosk.core.screening import make_reading  # noqa: E402
from kiosk.server import admin  # noqa: E402
from kiosk.server.db import Partitions, open_server_store  # noqa: E402
from kiosk.server.devicekeys import DeviceKeys  # noqa: E402
from kiosk.server.ingest import (  # noqa: E402
    _EVENT_COLS,
    IngestResult,
    _check_signatures,
    _event_row,
    check_event,
)
from kiosk.store.db import open_store  # noqa: E402
from kiosk.store.devicekey import ensure_key, key_path, load_key  # noqa: E402
from kiosk.store.events import EventWriter, Movement, first_signed_seq  # noqa: E402
from kiosk.sync import state  # noqa: E402
from kiosk.sync.client import SyncClient  # noqa: E402
from kiosk.sync.runner import Syncer, SyncReport, load_events  # noqa: E402


def offline_week(data_dir: Path, events: int, signed: bool = False) -> str:
    """A kiosk whose outbox holds ``events`` movements spread over the last 7 days (recorded
    in one transaction: the recording is not what is measured); ``signed``: the kiosk has
    its device key, so every event is signed. Returns its device id."""
    settings = settings_mod.load(data_dir)
    if signed:
        ensure_key(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    writer = EventWriter(store.path, background_checkpoints=False)
    policy = settings.policy()
    start = time.time() - 7 * 86400
    step = 7 * 86400 / events
    readings = [make_reading(36.4)]
    with writer.transaction() as conn:
        for i in range(events):
            out = i % 2 == 0
            movement = Movement(
                checkpoint=settings.checkpoint.id,
                direction=Direction.OUT if out else Direction.IN,
                decision=Decision(Outcome.ALLOW, Reason.OK, counts_against_quota=False),
                readings=readings, policy=policy, identified_by="scanner",
                pass_number=f"R{i % 20000:07d}", pass_kind="worker",
                household=f"H{i % 20000 // 3}")
            clock = ClockSample(start + i * step, 1000.0 + i * step, "boot-bench")
            writer.append(conn, settings.device.id, movement, clock, True)
    writer.close()
    store.close()
    return settings.device.id


def enrol(server: CentralServer, data_dir: Path, name: str) -> None:
    """Enrolled as ``kiosk sync enrol`` does it: with the kiosk's key when it has one."""
    device = settings_mod.load(data_dir).device.id
    key = load_key(key_path(data_dir))
    from_seq = 1
    if key is not None:
        store = open_store(data_dir / "kiosk.sqlite3")
        from_seq = first_signed_seq(store.engine, device)
        store.close()
    done = admin.enrol_device(server.engine, server.enrolment_code(name, "bench"), device,
                              public_key=key.public_hex if key else None,
                              key_from_seq=from_seq)
    state.write_secret(data_dir, done.secret)


def check_costs(data_dir: Path, batch: int) -> tuple[float, float, float, int]:
    """Seconds for ingest's per-event checks over every event of a signed kiosk, on one CPU
    in this process (what the server spends besides the database): the hash checks; every
    signature verified one by one; and the signature check ingest does (one verification
    per run of chained events in a batch of ``batch``)."""
    store = open_store(data_dir / "kiosk.sqlite3")
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        events = load_events(conn, ids)
    store.close()
    key = load_key(key_path(data_dir))
    assert key is not None
    keys = DeviceKeys((1,), (key.public_hex,))
    t0 = time.perf_counter()
    checked = [check_event(e, e["device_id"]) for e in events]
    hashes = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in checked:
        assert keys.problem(c.values["seq"], c.values["hash"], c.values.get("signature")) \
            is None
    each = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, len(checked), batch):
        part = {c.values["id"]: (i, c) for i, c in enumerate(checked[start:start + batch])}
        result = IngestResult()
        _check_signatures(part, keys, result)
        assert not result.rejected
    runs = time.perf_counter() - t0
    return hashes, each, runs, len(events)


def push(data_dir: Path, url: str, batch: int,
         ready: Callable[[], None] | None = None) -> tuple[float, SyncReport]:
    """Time one kiosk's push of its whole outbox (the sync a kiosk does when the line is
    back; the pull is not part of it). ``ready`` is called once everything is open, just
    before the clock starts."""
    store = open_store(data_dir / "kiosk.sqlite3")
    device = settings_mod.load(data_dir).device.id
    client = SyncClient(url, state.read_secret(data_dir), timeout=120)
    syncer = Syncer(store.engine, data_dir, device, client, batch=batch)
    report = SyncReport()
    if ready is not None:
        ready()
    t0 = time.perf_counter()
    syncer.push(report)
    elapsed = time.perf_counter() - t0
    client.close()
    store.close()
    return elapsed, report


def _push_worker(data_dir: str, url: str, batch: int, go: Any, out: Any) -> None:
    """One of the kiosks pushing at once, in a process of its own: says it is ready, waits
    for the common start, pushes, reports (seconds, events sent)."""
    def ready() -> None:
        out.put(None)
        go.wait()

    elapsed, report = push(Path(data_dir), url, batch, ready)
    out.put((elapsed, report.sent))


def _cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far (user, nice, system, idle, iowait, ...), from
    /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None


def machine_note(before: list[int] | None, after: list[int] | None, load_before: float,
                 wall: float) -> str:
    """How busy the whole machine was while something ran (this benchmark's processes and
    anything else), so a slow result on a shared machine can be told apart."""
    if before is None or after is None:
        return ""
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    d = [(b - a) / os.sysconf("SC_CLK_TCK") for a, b in zip(before[:8], after[:8],
                                                            strict=True)]
    busy = sum(d) - d[3] - d[4]
    return (f"machine during it: {busy:.1f} of {wall * (os.cpu_count() or 1):.1f} "
            f"CPU-seconds busy (every process); load average {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after")


def tree_cpu(pid: int) -> float:
    """CPU-seconds (user + system) of process ``pid`` and all its descendants so far,
    including children they have already reaped (PostgreSQL's ended backends); 0 where
    /proc is not there."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        stats[int(entry.name)] = text[text.rindex(")") + 2:].split()
    children: dict[int, list[int]] = {}
    for p, f in stats.items():
        children.setdefault(int(f[1]), []).append(p)
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        f = stats.get(p)
        if f is not None:  # utime stime cutime cstime (fields 14-17 of stat)
            total += sum(int(x) for x in f[11:15])
        todo += children.get(p, [])
    return total / ticks


class CpuMeter:
    """CPU-seconds spent by this process (the kiosk), the server's processes and
    PostgreSQL's between ``start`` and ``stop``: on a shared machine the wall clock says
    how busy the others were, these say what the sync cost."""

    def __init__(self, server_pid: int, postgres_pid: int) -> None:
        self.pids = {"server": server_pid, "PostgreSQL": postgres_pid}
        self.at: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {"kiosk": time.process_time(),
                **{k: tree_cpu(p) for k, p in self.pids.items()}}

    def start(self) -> None:
        self.at = self._now()

    def stop(self) -> None:
        self.spent = {k: v - self.at[k] for k, v in self._now().items()}

    def note(self, events: int) -> str:
        per = 100_000 / events
        return "CPU-seconds per 100,000 events: " + ", ".join(
            f"{k} {v * per:.2f}" for k, v in self.spent.items()) + \
            f"; total {sum(self.spent.values()) * per:.2f}"


def postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.root / "data" / "postmaster.pid").read_text().split()[0])


def raw_copy(cluster: PostgresCluster, data_dir: Path) -> tuple[float, int, float, float]:
    """COPY the same 100k rows (as the server stores them) into a fresh central store's
    partitioned ``events`` table with psycopg directly: the floor for getting the rows in.
    Returns seconds, rows stored, and the CPU-seconds of the COPY's client and of
    PostgreSQL."""
    url = cluster.new_database("rawcopy")
    engine = open_server_store(url)
    store = open_store(data_dir / "kiosk.sqlite3")
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM gate_events ORDER BY seq")]
        events = load_events(conn, ids)
    store.close()
    device = type("D", (), {"checkpoint": "raw", "compound": "raw"})()
    now = datetime.now()
    checked = [check_event(e, e["device_id"]) for e in events]
    Partitions(engine).ensure({c.local_date for c in checked})
    engine.dispose()
    rows = [[r[col] for col in _EVENT_COLS]
            for r in (_event_row(c, device, now, k + 1) for k, c in enumerate(checked))]
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    pg = postmaster_pid(cluster)
    with psycopg.connect(dsn) as conn:
        pg0, c0 = tree_cpu(pg), time.process_time()
        t0 = time.perf_counter()
        with conn.cursor().copy(f"COPY events ({','.join(_EVENT_COLS)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - t0
        client, server = time.process_time() - c0, tree_cpu(pg) - pg0
        n = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    return elapsed, int(n), client, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--kiosks", type=int, default=10)
    ap.add_argument("--per-kiosk", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    bindir = postgres_bin()
    if bindir is None:
        sys.exit("PostgreSQL is not installed (scripts/bootstrap installs postgresql-15)")
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        cluster = PostgresCluster(bindir, durable=True).start()
        try:
            print(f"machine: {os.cpu_count()} CPUs; PostgreSQL {bindir.parent.name} with fsync on")
            t0 = time.perf_counter()
            big = tmp / "week"
            offline_week(big, args.events)
            print(f"recorded {args.events} events offline in {time.perf_counter() - t0:.1f} s "
                  "(setup, not measured)")
            (tmp / "central").mkdir()
            server = CentralServer(cluster.new_database(), tmp / "central",
                                   workers=args.workers).start(60)
            try:
                enrol(server, big, "week")
                at_start: dict[str, Any] = {}
                assert server.proc is not None
                meter = CpuMeter(server.proc.pid, postmaster_pid(cluster))

                def started() -> None:
                    at_start.update(load=os.getloadavg()[0], ticks=_cpu_ticks())
                    meter.start()

                elapsed, report = push(big, server.url, args.batch, started)
                meter.stop()
                note = machine_note(at_start["ticks"], _cpu_ticks(), at_start["load"], elapsed)
                stored = server.event_count("bench")
                copy_s, copied, copy_client, copy_pg = raw_copy(cluster, big)
                print(f"\n1. a week offline: {report.sent} events through HTTP into PostgreSQL "
                      f"in {elapsed:.2f} s ({report.sent / elapsed:,.0f} events/s, "
                      f"batches of {args.batch}, {args.workers} server workers); "
                      f"{stored} stored")
                print(f"   raw psycopg COPY of the same {copied} rows: {copy_s:.2f} s; "
                      f"ratio HTTP/COPY = {elapsed / copy_s:.1f}x; target < 10 s: "
                      f"{'met' if elapsed < 10 else 'MISSED'}")
                print(f"   {meter.note(report.sent)}; the raw COPY: client "
                      f"{copy_client * 100_000 / copied:.2f}, PostgreSQL "
                      f"{copy_pg * 100_000 / copied:.2f}")
                if note:
                    print(f"   {note}")
                signed = tmp / "week-signed"
                offline_week(signed, args.events, signed=True)
                enrol(server, signed, "week-signed")
                at_start.clear()
                elapsed_s, report_s = push(signed, server.url, args.batch, started)
                meter.stop()
                note = machine_note(at_start["ticks"], _cpu_ticks(), at_start["load"],
                                    elapsed_s)
                print(f"1b. the same week signed (Ed25519, verified at ingest): "
                      f"{report_s.sent} events in {elapsed_s:.2f} s "
                      f"({report_s.sent / elapsed_s:,.0f} events/s; unsigned above: "
                      f"{elapsed:.2f} s, ratio {elapsed_s / elapsed:.2f}x); "
                      f"{report_s.quarantined} refused")
                print(f"    {meter.note(report_s.sent)}")
                if note:
                    print(f"   {note}")
                hashes, each, runs, n = check_costs(signed, args.batch)
                print(f"    ingest's checks per event, one CPU: hashes {hashes / n * 1e6:.1f} us; "
                      f"signatures verified one by one {each / n * 1e6:.1f} us; as ingest "
                      f"checks them (one verification per run) {runs / n * 1e6:.2f} us")
                dirs = []
                t0 = time.perf_counter()
                for i in range(args.kiosks):
                    d = tmp / f"k{i}"
                    offline_week(d, args.per_kiosk)
                    enrol(server, d, f"k{i}")
                    dirs.append(d)
                print(f"\n(recorded {args.kiosks} x {args.per_kiosk} events in "
                      f"{time.perf_counter() - t0:.1f} s, setup)")
                # every kiosk process is started and has its store and client open before
                # the common start: the clock measures the pushes, not Python starting up
                ctx = multiprocessing.get_context("spawn")
                go, out = ctx.Event(), ctx.Queue()
                procs = [ctx.Process(target=_push_worker,
                                     args=(str(d), server.url, args.batch, go, out))
                         for d in dirs]
                for p in procs:
                    p.start()
                for _ in procs:
                    out.get(timeout=300)
                load = os.getloadavg()[0]
                ticks = _cpu_ticks()
                t0 = time.perf_counter()
                go.set()
                results = [out.get(timeout=600) for _ in procs]
                wall = time.perf_counter() - t0
                note = machine_note(ticks, _cpu_ticks(), load, wall)
                for p in procs:
                    p.join(60)
                sent = sum(n for _, n in results)
                print(f"2. {args.kiosks} kiosks pushing at once: {sent} events in {wall:.2f} s "
                      f"= {sent / wall:,.0f} events/s ingested (slowest kiosk "
                      f"{max(e for e, _ in results):.2f} s); stored "
                      f"{server.event_count('bench') - stored}")
                if note:
                    print(f"   {note}")
            finally:
                server.stop()
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
