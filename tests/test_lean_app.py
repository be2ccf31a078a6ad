"""What the running kiosk loads, which is what it costs in memory on a 1 GB Pi
(docs/BENCHMARKS.md, bench/bench_memory.py): never the central store (FastAPI, uvicorn),
OpenCV only with a camera, httpx only when syncing, Alembic only when a migration is pending,
cryptography only with the first signing key or signed pass, pypinyin only to compute
initials (a roster import), never pydantic (the event's limits are checked without it) nor
SQLAlchemy (16 MB: the app's data paths are on sqlite3, kiosk.store.lite), also when it is
enrolled: every event signed, synced with a real central store, the chores running.
Each check runs in a fresh interpreter, as the app does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from alembic import command
from sync.sync_testkit import CentralServer, database_url, make_kiosk

from kiosk import settings as settings_mod
from kiosk.server import admin
from kiosk.store.db import Store, alembic_config, current_revision, head_revision, open_store
from kiosk.store.devicekey import ensure_key
from kiosk.store.importer import parse_roster

NEVER_IN_THE_APP = ("kiosk.server", "fastapi", "uvicorn", "starlette", "psycopg", "pydantic",
                    "sqlalchemy")
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
    assert start_sync(store.db, data_dir, settings, lambda: None) is None  # not enrolled
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
    assert "kiosk.gate" in loaded and "sqlite3" in loaded
    assert not loaded & set(NEVER_IN_THE_APP)
    assert not loaded & set(ONLY_WHEN_NEEDED)


ENROLLED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    data_dir = Path(sys.argv[1])
    from kiosk.ui.app import configure_kivy
    configure_kivy(data_dir, windowed=True, size=(800, 480))
    import kiosk.cli
    from kiosk import settings as settings_mod
    from kiosk.core.screening import make_reading
    from kiosk.export.scheduler import ExportScheduler
    from kiosk.gate import Gate
    from kiosk.store.db import open_store
    from kiosk.ui.services import Chores, start_sync
    from kiosk.ui.vm.queries import outbox_waiting, who_is_out
    from kiosk.ui.vm.signin import SignInModel
    from kiosk.ui.vm.base import InlineRunner
    store = open_store(data_dir / "kiosk.sqlite3")
    settings = settings_mod.load(data_dir)
    # what KioskApp.on_start starts: the sign-in names, sync, the chores (backup, export)
    SignInModel(store.db, InlineRunner(), settings.checkpoint.id).load()
    loop = start_sync(store.db, data_dir, settings, lambda: None)
    chores = Chores([store.daily_backup, ExportScheduler(store.db, settings, data_dir).run_once])
    chores.due()
    gate = Gate(store, settings)
    for number in ("R1", "R2", "R3", "W1") * 3:
        gate.check(number, [make_reading(36.5)], identified_by="scanner")
        loop.wake()
    gate.search("R1")
    who_is_out(store.db)
    deadline = time.monotonic() + 30
    while outbox_waiting(store.db) and time.monotonic() < deadline:
        time.sleep(0.2)
    loop.stop()
    chores.stop()
    print(outbox_waiting(store.db))
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules} | set(sys.modules))))
""")


def test_an_enrolled_app_signs_syncs_and_still_loads_no_sqlalchemy(tmp_path: Path):
    """A kiosk enrolled with a real central store: a roster comes down, every event is
    signed and pushed, the chores run: all without SQLAlchemy (nor Alembic)."""
    server = CentralServer(database_url("sqlite", tmp_path), tmp_path).start()
    try:
        kiosk = make_kiosk(tmp_path, "gate-lean", server, roster=ROSTER_HEADER)
        good, _bad = parse_roster(ROSTER_HEADER + ROSTER_ROWS)
        admin.publish_roster(server.engine, good, "default")  # comes down at the first pull
        ensure_key(kiosk.data_dir)  # every event signed from now on
        # the day's export is due at once: the chores export it while the app runs
        settings_mod.update(kiosk.data_dir, lambda s: setattr(s.export, "time", "00:00"))
        kiosk.close()
        r = subprocess.run([sys.executable, "-c", ENROLLED, str(kiosk.data_dir)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        waiting, modules = r.stdout.split("\n")[-3:-1]
        loaded = set(modules.split())
        assert waiting == "0"  # everything pushed
        assert server.event_count() == 12
        assert {"httpx", "cryptography", "kiosk.sync.runner"} <= loaded
        assert not loaded & set(NEVER_IN_THE_APP)
        assert "alembic" not in loaded
        store = open_store(kiosk.data_dir / "kiosk.sqlite3")
        with store.db.read() as con:
            signed, residents, exports = con.execute(
                "SELECT (SELECT count(signature) FROM gate_events), "
                "(SELECT count(*) FROM residents), (SELECT count(*) FROM export_runs)"
            ).fetchone()
        store.close()
        assert signed == 12 and residents == 4  # signed; the roster came down by sync
        assert exports == 1, exports
    finally:
        server.stop()


ROSTER_HEADER = ("name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,"
                 "valid_to\n")
ROSTER_ROWS = (
    "张一,1,1,101,1-1-101,13800000001,R1,resident,2020-01-01,2099-12-31\n"
    "张二,1,1,101,1-1-101,13800000002,R2,resident,2020-01-01,2099-12-31\n"
    "李三,2,1,202,2-1-202,13800000003,R3,resident,2020-01-01,2099-12-31\n"
    "王铁路,7,1,201,7-1-201,13800000004,W1,worker,2020-01-01,2099-12-31\n"
)


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


def test_without_an_audio_device_the_mixer_is_not_loaded(tmp_path: Path):
    """A Pi without a speaker stays silent and does not load Kivy's SDL2 mixer and its
    codecs (about 5 MB); an ALSA playback device or a chosen SDL driver means sound."""
    from kiosk.ui.sounds import has_audio_device

    assert not has_audio_device(tmp_path)
    (tmp_path / "controlC0").touch()  # a card without playback: still silent
    assert not has_audio_device(tmp_path)
    (tmp_path / "pcmC0D0p").touch()
    assert has_audio_device(tmp_path)
    silent = textwrap.dedent("""
        import sys
        from kiosk.ui.sounds import Sounds
        assert Sounds(audio=False).play("pass") is False
        print("kivy.core.audio" in sys.modules)
    """)
    r = subprocess.run([sys.executable, "-c", silent], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False"]
