"""Benchmark and fault run of a compound hub, all real processes on 127.0.0.1: the district
store (``kiosk serve``), the hub (``kiosk serve --hub``), three gate processes
(bench/hub_gate.py: the product's background sync, woken after each event), a loopback
proxy on the WAN (hub to district) and one on the LAN (gates to hub).

Prints, per phase, the propagation delay of an exit from its gate to the other gates'
stores (where the quota check reads it: a household let out at gate A is refused at gate B
from then on), p50/p99/max; then, after the faults (the hub SIGKILLed mid-relay and
restarted, the LAN and the WAN flapping, a gate SIGKILLed mid-push and restarted), checks
that the district holds exactly the union of the gates' events: none twice, none lost,
every chain verified. Target: p99 under 5 s with the WAN cut and the LAN up.

usage: python bench/bench_hub.py [--seconds 20] [--period 0.5]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sync"))

from link_proxy import LinkProxy  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sync_testkit import CentralServer, make_kiosk, unique  # noqa: E402

from kiosk import settings as settings_mod  # noqa: E402
from kiosk.server import admin, hub  # noqa: E402
from kiosk.server.db import open_server_store  # noqa: E402
from kiosk.server.ingest import EV, FI  # noqa: E402
from kiosk.server.verify import verify_device  # noqa: E402

GATES = 3
#: the last seconds of a phase are not measured in it: their movements travel under the next
#: phase's conditions
SETTLE_S = 5.0
HEADER = "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"


def roster(per_gate: int) -> str:
    """A household per pass: each exit is a fresh household's, allowed, and a movement the
    other gates must learn of."""
    rows = [f"住户{g}-{n},{g},1,{n},h{g}-{n},,P{g}-{n},resident,2020-01-01,2099-12-31\n"
            for g in range(GATES) for n in range(per_gate)]
    return HEADER + "".join(rows)


class GateProc:
    def __init__(self, data_dir: Path, no: int, seconds: float, period: float) -> None:
        self.data_dir, self.no, self.seconds, self.period = data_dir, no, seconds, period
        self.recorded: dict[str, float] = {}  # event id -> unix time recorded
        self.next = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self, seconds: float | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "hub_gate.py"), str(self.data_dir),
             str(self.no), str(seconds or self.seconds), str(self.period), str(self.next)],
            cwd=ROOT, env={**os.environ, "KIVY_NO_ARGS": "1"}, text=True,
            stdout=subprocess.PIPE, stderr=open(self.data_dir / "gate.log", "a"))  # noqa: SIM115
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            _seq, event_id, at = line.split()
            self.recorded[event_id] = float(at)
            self.next += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.next += 1  # a line may have been lost with the process: never reuse a pass

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait()


def seen_at(gates: list[GateProc], stop: threading.Event, out: dict[tuple[int, str], float]
            ) -> None:
    """Poll each gate's store (every 50 ms) for the other gates' movements it has learnt."""
    cons = [sqlite3.connect(f"file:{g.data_dir / 'kiosk.sqlite3'}?mode=ro", uri=True,
                            timeout=5) for g in gates]
    while not stop.is_set():
        now = time.time()
        for g, con in zip(gates, cons, strict=True):
            try:
                for (event_id,) in con.execute("SELECT event_id FROM remote_movements"):
                    out.setdefault((g.no, event_id), now)
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    for con in cons:
        con.close()


def delays(gates: list[GateProc], seen: dict[tuple[int, str], float], since: float,
           until: float) -> list[float]:
    out = []
    for g in gates:
        for event_id, at in g.recorded.items():
            if since <= at < until:
                for other in gates:
                    if other is not g and (other.no, event_id) in seen:
                        out.append(seen[(other.no, event_id)] - at)
    return out


def show(name: str, d: list[float], expected: int) -> None:
    if not d:
        print(f"{name:34s} no movement reached another gate (of {expected})")
        return
    q = statistics.quantiles(d, n=100) if len(d) > 1 else [d[0]] * 99
    print(f"{name:34s} n={len(d):4d}/{expected:<4d} p50 {statistics.median(d):5.2f} s  "
          f"p99 {q[98]:5.2f} s  max {max(d):5.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument("--period", type=float, default=0.5, help="seconds between exits a gate")
    args = ap.parse_args()
    per_gate = int(6 * args.seconds / args.period) + 50
    root = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    (root / "district").mkdir()
    district = CentralServer(f"sqlite:///{root / 'district' / 'c.sqlite3'}",
                             root / "district").start()
    compound = unique("bench")
    kiosks = [make_kiosk(root, f"gate-{i}", district, compound, roster(per_gate))
              for i in range(GATES)]
    wan = LinkProxy(district.port)
    hub_dir = root / "hub"
    hub_dir.mkdir()
    hub_url = f"sqlite:///{hub_dir / 'hub.sqlite3'}"
    engine = open_server_store(hub_url)
    hub.enrol_hub(engine, hub_dir, admin.make_enrolment_code(
        district.engine, "hub", compound, role="hub"), wan.url, str(uuid.uuid4()))
    engine.dispose()
    hub_server = CentralServer(hub_url, hub_dir, options=("--hub",)).start()
    lan = LinkProxy(hub_server.port)
    for k in kiosks:
        settings_mod.update(k.data_dir, lambda s: setattr(s.sync, "hub", lan.url))
        k.close()
    time.sleep(3)  # the hub's first relay round brings the gates' credentials

    gates = [GateProc(k.data_dir, i, args.seconds, args.period) for i, k in enumerate(kiosks)]
    seen: dict[tuple[int, str], float] = {}
    stop = threading.Event()
    poller = threading.Thread(target=seen_at, args=(gates, stop, seen), daemon=True)
    poller.start()
    total = 5 * args.seconds
    for g in gates:
        g.start(total)
    while not all(g.recorded for g in gates):  # each gate process is up and recording
        time.sleep(0.1)
    t0 = time.time()
    phases: list[tuple[str, float, float]] = []

    def phase(name: str, seconds: float) -> None:
        start = time.time()
        time.sleep(seconds)
        phases.append((name, start, time.time()))

    phase("WAN up, LAN up", args.seconds)
    wan.cut()
    phase("WAN cut, LAN up (the promise)", args.seconds)
    lan.cut()
    wan.mend()
    phase("LAN cut (gates to district)", args.seconds)
    lan.mend()
    # faults: the hub killed mid-relay, the WAN and the LAN flapping, a gate killed mid-push
    start = time.time()
    hub_server.kill()
    time.sleep(2)
    hub_server.start()
    for _ in range(4):
        wan.cut()
        time.sleep(1.5)
        wan.mend()
        lan.cut()
        time.sleep(1.0)
        lan.mend()
        time.sleep(0.5)
    gates[1].kill()
    time.sleep(1)
    gates[1].start(max(1.0, total - (time.time() - t0)))
    remaining = max(0.0, total - (time.time() - t0))
    time.sleep(remaining)
    phases.append(("faults (hub, WAN, LAN, gate killed)", start, time.time()))
    for g in gates:
        g.wait()
    # the gates' background sync stopped with them: one last sync each, the relay drains
    for k in kiosks:
        subprocess.run([sys.executable, "-m", "kiosk", "--data-dir", str(k.data_dir), "sync",
                        "--once"], cwd=ROOT, env={**os.environ, "KIVY_NO_ARGS": "1"},
                       capture_output=True, check=False)
    deadline = time.monotonic() + 60
    with hub_server.engine.connect() as conn:
        while conn.execute(select(func.count()).select_from(hub.RO)
                           .where(hub.QUEUED)).scalar_one() and \
                time.monotonic() < deadline:
            conn.commit()
            time.sleep(0.5)
    time.sleep(3)
    stop.set()
    poller.join()

    print(f"compound hub, {GATES} gates, an exit every {args.period} s at each, "
          f"phases of {args.seconds:.0f} s")
    for name, since, until in phases:
        # exits recorded while the phase's conditions held long enough to be measured in
        # them: from 1 s after the change until SETTLE_S before the next one
        since, until = since + 1.0, until - SETTLE_S
        expected = sum(1 for g in gates for at in g.recorded.values()
                       if since <= at < until) * (GATES - 1)
        show(name, delays(gates, seen, since, until), expected)

    # exactly the union, once, chains verified
    problems = []
    total_events = 0
    for k in kiosks:
        con = sqlite3.connect(k.data_dir / "kiosk.sqlite3")
        mine = con.execute("SELECT seq, id FROM gate_events ORDER BY seq").fetchall()
        outbox = con.execute("SELECT count(*) FROM outbox").fetchone()[0]
        con.close()
        with district.engine.connect() as conn:
            theirs = [tuple(r) for r in conn.execute(
                select(EV.c.seq, EV.c.id).where(EV.c.device_id == k.settings.device.id)
                .order_by(EV.c.seq))]
        check = verify_device(district.engine, k.settings.device.id)
        total_events += len(mine)
        if theirs != [tuple(r) for r in mine]:
            problems.append(f"{k.name}: district holds {len(theirs)} events, gate {len(mine)}")
        if check.problems:
            problems.append(f"{k.name}: {check.problems[:3]}")
        if outbox:
            problems.append(f"{k.name}: {outbox} still in the outbox")
    with district.engine.connect() as conn:
        bad = conn.execute(select(FI.c.kind, func.count()).where(
            FI.c.compound == compound).group_by(FI.c.kind)).all()
    print(f"district: {total_events} events of {GATES} gates, findings {dict(bad) or 'none'}")
    print("exactly the union, once, chains verified" if not problems
          else "PROBLEMS:\n  " + "\n  ".join(problems))
    hub_server.stop()
    district.stop()
    lan.close()
    wan.close()
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
