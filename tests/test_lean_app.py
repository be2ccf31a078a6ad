"""What the running kiosk loads, which is what it costs in memory on a 1 GB Pi
(docs/BENCHMARKS.md, bench/bench_memory.py): never the central store (FastAPI, uvicorn),
OpenCV only with a camera, httpx only when syncing, Alembic only when a migration is pending,
cryptography only with the first signing key or signed pass, pypinyin only to compute
initials (a roster import), never pydantic (the event's limits are checked without it) nor
SQLAlchemy's ORM (the store is Core).
Each check runs in a fresh interpreter, as the app does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command

from kiosk.store.db import Store, alembic_config, current_revision, head_revision, open_store

NEVER_IN_THE_APP = ("kiosk.server", "fastapi", "uvicorn", "starlette", "psycopg", "pydantic",
                    "sqlalchemy.orm")
#: camera, sync, migration, keys, roster import
ONLY_WHEN_NEEDED = ("cv2", "httpx", "alembic", "cryptography", "pypinyin")

APP_START = textwrap.dedent("""
    import sys
    from pathlib import Path
    data_dir = Path(sys.argv[1])
    from kiosk.ui.app import configure_kivy
    configure_kivy(data_dir, windowed=True, size=(800, 480))
    {entry}
    from kiosk import settings as settings_mod
    from kiosk.gate import Gate
    from kiosk.store.db import open_store
    from kiosk.ui.services import Devices, start_sync
    store = open_store(data_dir / "kiosk.sqlite3")
    settings = settings_mod.load(data_dir)
    devices = Devices(lambda fn: fn(), lambda r: None, lambda s: None, lambda p: None,
                      lambda s: None)
    devices.start_camera(settings.camera.index)  # the default index 0; no camera here
    assert start_sync(store.engine, data_dir, settings, lambda: None) is None  # not enrolled
    gate = Gate(store, settings)
    from kiosk.core.screening import make_reading
    gate.check("R0001", [make_reading(36.5)], identified_by="scanner")
    devices.stop()
    print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}} | set(sys.modules))))
""")


def _modules_after_start(data_dir: Path, entry: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", APP_START.format(entry=entry), str(data_dir)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


@pytest.mark.parametrize("entry", [
    "import kiosk.ui.kioskapp",
    "import kiosk.cli",
])
def test_the_running_app_loads_neither_the_server_nor_what_it_does_not_use(
        loaded_store: Store, data_dir: Path, entry: str):
    loaded_store.close()  # migrated once, as at the kiosk's first start
    loaded = _modules_after_start(data_dir, entry)
    assert "kiosk.gate" in loaded and "sqlalchemy" in loaded
    assert not loaded & set(NEVER_IN_THE_APP)
    assert not loaded & set(ONLY_WHEN_NEEDED)


def test_a_pending_migration_still_runs_after_a_downgrade(tmp_path: Path):
    store = open_store(tmp_path / "k.sqlite3")
    cfg = alembic_config()
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
        conn.commit()
    assert current_revision(store.engine) != head_revision()
    store.close()
    store = open_store(tmp_path / "k.sqlite3")  # the stamp no longer matches: Alembic runs
    assert current_revision(store.engine) == head_revision()
    store.close()
