"""Power-cut safety: an event the kiosk reported as recorded is never lost.

A child process records events in a loop and is killed with SIGKILL at random moments, many
times over; every event it reported as committed must be in the file afterwards, the file must
pass SQLite's integrity check, and the hash chain must have no gap.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text

from kiosk import settings as settings_mod
from kiosk.store.db import integrity_problem, open_store
from kiosk.store.events import verify_chain

KILLS = 25


def test_events_reported_as_committed_survive_sigkill(loaded_store, data_dir: Path):
    loaded_store.close()
    rng = random.Random(1234)
    reported: list[str] = []
    child = Path(__file__).with_name("crash_child.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, str(child), str(data_dir)],
                                stdout=subprocess.PIPE, text=True, env=env)
        lines: list[str] = []
        reader = threading.Thread(target=lambda p=proc, out=lines: out.extend(p.stdout))
        reader.start()
        # wait until it is really writing, then kill it at a random moment
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join()
        assert lines, "the child never recorded an event"
        # a line cut in half by the kill was never fully reported: ignore it
        reported += [ln.split()[1] for ln in lines if ln.endswith("\n")]
    assert integrity_problem(data_dir / "kiosk.sqlite3") is None
    store = open_store(data_dir / "kiosk.sqlite3")
    with store.engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM gate_events")).scalars())
    missing = [e for e in reported if e not in stored]
    assert missing == [], f"{len(missing)} reported events lost"
    device = settings_mod.load(data_dir).device.id
    assert verify_chain(store.engine, device) == []
    print(f"{KILLS} kills, {len(reported)} events reported, {len(stored)} stored, none lost")
    store.close()
