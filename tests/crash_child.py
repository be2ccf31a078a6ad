"""Child process for the crash test: records gate events in a loop and prints the id of each
one after ``Gate.check`` returned (i.e. after the durable commit) until it is killed."""

from __future__ import annotations

import sys
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.core.model import Direction
from kiosk.core.screening import make_reading
from kiosk.gate import Gate
from kiosk.store.db import open_store


def main(data_dir: Path) -> None:
    settings = settings_mod.load(data_dir)
    store = open_store(data_dir / "kiosk.sqlite3")
    gate = Gate(store, settings)
    passes = ["R0003", "W0001", "S0001", "R0004", "NOPE"]
    i = 0
    while True:
        number = passes[i % len(passes)]
        direction = Direction.OUT if i % 2 else Direction.IN
        result = gate.check(number, [make_reading(36.0 + (i % 20) / 10)], direction=direction)
        sys.stdout.write(f"{result.event.seq} {result.event.id}\n")
        sys.stdout.flush()
        i += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]))
