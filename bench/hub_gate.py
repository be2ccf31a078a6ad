"""A gate process for bench/bench_hub.py: lets one household out every ``PERIOD`` seconds at
this gate (passes ``P<gate>-<n>``, a household each) while the product's background sync
(kiosk.sync.loop.start_background_sync: with ``sync.hub`` set, the hub every 2 s, the
district when the hub does not answer) runs and is woken after each event, as the app does.
Prints ``<seq> <event id> <unix time>`` per recorded exit (flushed).

usage: python bench/hub_gate.py DATA_DIR GATE_NO SECONDS PERIOD [FIRST]
"""

from __future__ import annotations

import logging
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
from kiosk.sync.loop import start_background_sync  # noqa: E402


def main() -> None:
    data_dir, gate_no = Path(sys.argv[1]), int(sys.argv[2])
    seconds, period = float(sys.argv[3]), float(sys.argv[4])
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_mod.load(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    gate = Gate(store, settings)
    loop = start_background_sync(store.engine, data_dir, settings)
    assert loop is not None, "not enrolled"
    reading = make_reading(36.5, source=ReadingSource.MANUAL)
    deadline = time.monotonic() + seconds
    while not stopping and time.monotonic() < deadline:
        result = gate.check(f"P{gate_no}-{n}", [reading], direction=Direction.OUT)
        print(result.event.seq, result.event.id, f"{time.time():.3f}", flush=True)
        loop.wake()
        n += 1
        time.sleep(period)
    loop.stop()
    gate.close()
    store.close()


if __name__ == "__main__":
    main()
