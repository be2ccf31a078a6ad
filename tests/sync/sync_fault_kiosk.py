"""A kiosk process for the fault test: records a movement every few milliseconds on the main
thread while the background SyncLoop pushes through a faulty proxy; prints each recorded
sequence number (flushed) so the test knows what the kiosk reported as recorded.

usage: python sync_fault_kiosk.py DATA_DIR PROXY_URL SECONDS
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("KIVY_NO_ARGS", "1")

from kiosk import settings as settings_mod  # noqa: E402
from kiosk.core.model import Direction  # noqa: E402
from kiosk.core.screening import ReadingSource, make_reading  # noqa: E402
from kiosk.gate import Gate  # noqa: E402
from kiosk.store.db import open_store  # noqa: E402
from kiosk.sync import state  # noqa: E402
from kiosk.sync.client import SyncClient  # noqa: E402
from kiosk.sync.loop import SyncLoop  # noqa: E402
from kiosk.sync.runner import Syncer  # noqa: E402

PASSES = ("R1", "R2", "R3", "W1", "NOPE")


def main() -> None:
    data_dir, url, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    settings = settings_mod.load(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    gate = Gate(store, settings)
    secret = state.read_secret(data_dir)
    client = SyncClient(url, secret, timeout=2.0)
    syncer = Syncer(store.engine, data_dir, settings.device.id, client, batch=40)
    loop = SyncLoop(syncer.run, interval_s=0.1, base_s=0.05, max_s=0.4)
    loop.start()
    reading = make_reading(36.5, source=ReadingSource.MANUAL)
    deadline = time.monotonic() + seconds
    i = 0
    while not stopping and time.monotonic() < deadline:
        direction = Direction.OUT if i % 2 else Direction.IN
        result = gate.check(PASSES[i % len(PASSES)], [reading], direction=direction)
        print(result.event.seq, flush=True)
        loop.wake()
        i += 1
        time.sleep(0.02)
    loop.stop()
    gate.close()
    store.close()


if __name__ == "__main__":
    main()
