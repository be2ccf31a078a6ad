"""A kiosk's sync times (last success, last attempt, last error, data as of) survive a change
of its zone: a Pi set up in UTC and then set to Asia/Shanghai, or back. They were local
times without a zone, so after the switch old data looked 8 hours fresher (or a fresh sync
8 hours stale) in the status bar, in ``kiosk sync status`` and in the data age each request
tells the central store, until the next successful sync.

Real kiosks with real SQLite stores sync with a real ``kiosk serve``; "30 hours later" is a
child process whose clock runs 30 hours ahead (sync_testkit.skewed_clock_env)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kiosk_testing import run_kiosk
from sqlalchemy import select
from sync_testkit import (
    CentralServer,
    Kiosk,
    database_url,
    free_port,
    make_kiosk,
    skewed_clock_env,
    unique,
)

from kiosk.server.ingest import DEV
from kiosk.store.db import open_store
from kiosk.store.lite import reading
from kiosk.sync import state
from kiosk.sync.client import SyncClient, SyncError
from kiosk.sync.runner import Syncer, SyncReport
from kiosk.ui.services import sync_status
from kiosk.ui.vm.status import data_age_status

pytest_plugins = ["sync_testkit"]

Zone = Callable[[str], None]
HOUR = 3600.0
#: what the gate's status bar is fed (kiosk.ui.services.sync_status), from a child process
_STATUS_CHILD = """\
import json, sys
from pathlib import Path
from kiosk.store.db import open_store
from kiosk.ui.services import sync_status
from kiosk.ui.vm.status import data_age_status

store = open_store(Path(sys.argv[1]) / "kiosk.sqlite3")
_, online, _, link, age = sync_status(store.engine, Path(sys.argv[1]), sys.argv[2])
stale = link.stale_since
print(json.dumps({"online": online, "age_s": age, "warning": data_age_status(age, 24),
                  "stale_since": None if stale is None else stale.isoformat()}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    d = tmp_path_factory.mktemp("central")
    s = CentralServer(database_url("sqlite", d), d).start()
    yield s
    s.stop()


@pytest.fixture
def k(server: CentralServer, tmp_path: Path) -> Iterator[Kiosk]:
    """A kiosk of a compound of its own, enrolled with ``server``."""
    made = make_kiosk(tmp_path, "gate-1", server, unique("c"))
    yield made
    made.close()


def _kept(k: Kiosk) -> dict[str, str]:
    with reading(k.store.engine) as con:
        return {key: state.get(con, key) for key in (state.LAST_SUCCESS, state.LAST_ATTEMPT,
                                                     state.DATA_AS_OF)}


def _reported_age(server: CentralServer, k: Kiosk) -> timedelta:
    """The data age the central store took from the kiosk's last request."""
    with server.engine.connect() as conn:
        row = conn.execute(select(DEV.c.last_contact, DEV.c.data_as_of)
                           .where(DEV.c.id == k.settings.device.id)).one()
    assert row.data_as_of is not None
    return row.last_contact - row.data_as_of


def test_a_sync_made_in_utc_is_still_fresh_after_the_pi_is_set_to_shanghai(
        server: CentralServer, k: Kiosk, zone: Zone):
    """Before, the fresh sync read as 8 hours old: "other gates as of" 8 hours ago, and the
    central store was told the gate's data was 8 hours old."""
    zone("UTC")
    k.sync()
    kept = _kept(k)
    assert all(v.endswith("+00:00") for v in kept.values()), kept  # no reader guesses
    zone("Asia/Shanghai")
    _, online, _, link, age = sync_status(k.store.engine, k.data_dir, k.server_url)
    assert online and link.stale_since is None
    assert age is not None and age < 60 and data_age_status(age, 1) is None
    syncer = k.syncer()
    syncer.push(SyncReport())
    syncer.client.close()
    assert _reported_age(server, k) < timedelta(minutes=1)
    r = run_kiosk(k.data_dir, "sync", "status")  # the child inherits the zone
    assert r.returncode == 0, r.stderr
    at, as_of = (datetime.fromisoformat(kept[key]).astimezone()
                 for key in (state.LAST_SUCCESS, state.DATA_AS_OF))
    assert at.utcoffset() == timedelta(hours=8)  # shown in the zone set now
    assert f"last success: {at:%Y-%m-%d %H:%M:%S}+0800\n" in r.stdout
    assert (f"data:         roster, revocations and keys from {as_of:%Y-%m-%d %H:%M:%S}+0800 "
            "(0 h ago)") in r.stdout


def test_old_data_synced_in_shanghai_is_shown_old_in_utc_and_told_so_to_the_server(
        server: CentralServer, k: Kiosk, tmp_path: Path, zone: Zone):
    """Set from Shanghai to UTC, the gate's last sync read as 8 hours later than it was: a
    failed sync afterwards still showed "synced", and 30 hours on the roster, revocations
    and keys passed for 22 hours old (under the 24 hours that warn)."""
    zone("Asia/Shanghai")
    k.sync()
    synced = datetime.fromisoformat(_kept(k)[state.LAST_SUCCESS])
    zone("UTC")
    time.sleep(1.01 - time.time() % 1)  # the times are kept to the second
    down = SyncClient(f"http://127.0.0.1:{free_port()}", k.secret, timeout=2)
    with pytest.raises(SyncError):  # the district is out of reach from now on
        Syncer(k.store.engine, k.data_dir, k.settings.device.id, down).run()
    down.close()
    _, online, _, link, age = sync_status(k.store.engine, k.data_dir, k.server_url)
    assert online is False and age is not None and age < 60 and link.stale_since is None

    later = skewed_clock_env(tmp_path / "clock", 30 * HOUR)  # 30 hours on, still in UTC
    bar = subprocess.run([sys.executable, "-c", _STATUS_CHILD, str(k.data_dir), k.server_url],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KIVY_NO_ARGS": "1", **later})
    assert bar.returncode == 0, bar.stderr
    shown = json.loads(bar.stdout)
    assert shown["online"] is False and shown["warning"] == ["data_old", {"hours": 30}]
    assert abs(shown["age_s"] - 30 * HOUR) < 60
    assert datetime.fromisoformat(shown["stale_since"]) == synced
    r = run_kiosk(k.data_dir, "sync", "status", env=later)
    assert r.returncode == 0, r.stderr
    assert f"last success: {synced:%Y-%m-%d %H:%M:%S}+0000" in r.stdout
    assert "data:         OLD: roster, revocations and keys from " in r.stdout
    assert "(30 h ago)" in r.stdout
    r = run_kiosk(k.data_dir, "sync", "--once", env=later)  # the district is back
    assert r.returncode == 0, r.stderr
    assert abs(_reported_age(server, k) - timedelta(hours=30)) < timedelta(minutes=1)


def test_times_kept_before_without_a_zone_are_read_as_local(tmp_path: Path, zone: Zone):
    """Kiosks updated in place keep what the older version wrote (local time, no zone) until
    their next sync: read in the zone they were written in, no migration needed."""
    zone("Asia/Shanghai")
    store = open_store(tmp_path / "kiosk.sqlite3")
    now = datetime.now(UTC)
    local = datetime.now()  # as the older version wrote them: Shanghai time, no zone
    state.record(store.engine, **{
        state.DATA_AS_OF: (local - timedelta(hours=30)).isoformat(timespec="seconds"),
        state.LAST_SUCCESS: (local - timedelta(minutes=10)).isoformat(timespec="seconds"),
        state.LAST_ERROR_AT: state.time_text(now - timedelta(minutes=5))})
    st = state.status(store.engine, tmp_path, "")
    age = st.data_age_s()
    assert age is not None and abs(age - 30 * HOUR) < 60
    last = datetime.fromisoformat(st.last_success)  # given with its offset from here on
    assert last.utcoffset() == timedelta(0)
    assert abs(last - (now - timedelta(minutes=10))) < timedelta(seconds=2)
    assert not st.succeeded_last()  # the error came after, whichever way each was written
    link = state.gate_link(st, now, 120)
    assert link.stale_since == last
    assert state.shown(st.last_success) == f"{last.astimezone():%Y-%m-%d %H:%M:%S}+0800"
    state.record(store.engine, **{state.DATA_AS_OF: "yesterday"})  # not a time: never
    assert state.status(store.engine, tmp_path, "").data_age_s() is None
    store.close()
