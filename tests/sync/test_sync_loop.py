"""The kiosk side: background loop with backoff, one sync at a time, quarantine that never
blocks the queue, resuming after an answer was lost."""

from __future__ import annotations

import json
import random
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest
from kiosk_testing import run_kiosk
from sqlalchemy import select
from sync_testkit import CentralServer, Kiosk

from kiosk import settings as settings_mod
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.gate import Gate
from kiosk.server.devicekeys import KEYS
from kiosk.server.verify import verify_device
from kiosk.store.db import open_store
from kiosk.store.devicekey import key_path
from kiosk.sync import state
from kiosk.sync.client import SyncClient, Unavailable
from kiosk.sync.loop import SyncLoop, backoff_s
from kiosk.sync.runner import SyncBusy, Syncer, SyncReport, sync_lock

pytest_plugins = ["sync_testkit"]


def test_backoff_doubles_up_to_the_cap_with_jitter():
    rng = random.Random(7)
    for failures in range(1, 12):
        nominal = min(300.0, 2.0 * 2 ** (failures - 1))
        for _ in range(20):
            assert 0.5 * nominal <= backoff_s(failures, 2.0, 300.0, rng) < 1.5 * nominal


def test_the_loop_syncs_off_the_calling_thread_and_recovers_after_failures():
    calls: list[str] = []
    results: list[bool] = []
    done = threading.Event()

    def sync() -> SyncReport:
        calls.append(threading.current_thread().name)
        if len(calls) <= 3:
            raise Unavailable("no route to host")
        done.set()
        return SyncReport()

    loop = SyncLoop(sync, interval_s=60, base_s=0.01, max_s=0.05,
                    on_result=lambda report, error: results.append(report is not None))
    loop.start()
    assert done.wait(5)
    loop.stop()
    assert calls[:4] == ["sync-loop"] * 4
    assert results[:4] == [False, False, False, True] and loop.failures == 0


def test_wake_starts_a_sync_before_the_interval_is_over():
    calls: list[float] = []
    loop = SyncLoop(lambda: calls.append(time.monotonic()) or SyncReport(), interval_s=60)
    loop.start()
    time.sleep(0.2)
    loop.wake()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    loop.stop()
    assert len(calls) == 2


def _offline_kiosk(root: Path, transport: httpx.BaseTransport) -> tuple[Gate, Syncer]:
    settings = settings_mod.load(root)
    store = open_store(root / "kiosk.sqlite3")
    gate = Gate(store, settings)
    client = SyncClient("http://central.test", "secret", transport=transport)
    return gate, Syncer(store.engine, root, settings.device.id, client, batch=4)


def _record(gate: Gate, n: int) -> None:
    for _ in range(n):
        gate.check("X1", [make_reading(36.5, source=ReadingSource.MANUAL)])


def _ok(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/changes"):
        return httpx.Response(200, json={"cursor": "0.0", "more": False})
    if request.url.path.endswith("/device"):
        return httpx.Response(200, json={"missing": []})
    if request.url.path.endswith("/device/key"):  # the kiosk's key, taken on first use
        return httpx.Response(200, json={**json.loads(request.content), "new": True})
    return httpx.Response(200, json={"stored": 0, "duplicates": 0, "rejected": [],
                                     "missing": []})


def test_an_event_the_server_refuses_is_quarantined_and_the_rest_flows(data_dir: Path):
    seen: list[list[int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            seqs = [e["seq"] for e in json.loads(request.content)["events"]]
            seen.append(seqs)
            if 3 in seqs:  # the batch holding seq 3 is refused as a whole
                return httpx.Response(422, json={"error": "seq 3 is unreadable"})
        return _ok(request)

    gate, syncer = _offline_kiosk(data_dir, httpx.MockTransport(handler))
    _record(gate, 9)
    syncer.run()
    st = state.status(syncer.db, data_dir, "")
    assert (st.pending, st.quarantined) == (0, 1)
    with syncer.db.connect() as conn:  # the engine the test gave it
        row = conn.exec_driver_sql("SELECT seq, last_error FROM outbox").one()
    assert row[0] == 3 and "unreadable" in row[1]
    # the refused batch was halved until the one event it refuses was found
    assert [3] in seen and max(max(s) for s in seen) == 9
    gate.close()


def test_a_framework_error_page_is_not_grounds_for_quarantine(data_dir: Path):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": "route changed"})

    gate, syncer = _offline_kiosk(data_dir, httpx.MockTransport(handler))
    _record(gate, 2)
    with pytest.raises(Unavailable):
        syncer.run()
    st = state.status(syncer.db, data_dir, "")
    assert (st.pending, st.quarantined) == (2, 0) and "422" in st.last_error
    gate.close()


def test_only_one_sync_runs_at_a_time(data_dir: Path):
    gate, syncer = _offline_kiosk(data_dir, httpx.MockTransport(_ok))
    with sync_lock(data_dir), pytest.raises(SyncBusy):
        syncer.run()
    syncer.run()  # free again
    gate.close()


class LoseFirstAnswer(httpx.BaseTransport):
    """Delivers the first upload to the server, then drops the answer (the line died after
    the server committed): the kiosk must not lose or duplicate anything."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/events") and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer")
        return response


def test_an_acknowledgement_lost_on_the_way_back_is_replayed_harmlessly(
        central: CentralServer, kiosks: list[Kiosk]):
    k = kiosks[0]
    for _ in range(6):
        k.check("W1")
    with pytest.raises(Unavailable):
        k.sync(LoseFirstAnswer())
    assert central.event_count(k.compound) == 6  # stored, but the kiosk does not know
    st = state.status(k.store.engine, k.data_dir, k.server_url)
    assert st.pending == 6 and "reset" in st.last_error
    report = k.sync()
    assert (report.sent, report.duplicates) == (6, 6)
    assert central.event_count(k.compound) == 6
    assert state.status(k.store.engine, k.data_dir, k.server_url).pending == 0


def test_the_command_line_enrols_syncs_and_shows_the_status(
        central: CentralServer, tmp_path: Path, imported_dir: Path):
    r = run_kiosk(tmp_path, "serve", "--db", central.db_url, "enrol", "--checkpoint", "east")
    assert r.returncode == 0, r.stderr
    code = r.stdout.strip()
    r = run_kiosk(imported_dir, "sync", "status")
    assert "not enrolled" in r.stdout and "pending:      0" in r.stdout
    r = run_kiosk(imported_dir, "sync", "enrol", code, "--url", central.url)
    assert r.returncode == 0 and "east" in r.stdout, r.stderr
    assert run_kiosk(imported_dir, "check", "R0001", "--temp", "36.5").returncode == 0
    r = run_kiosk(imported_dir, "sync", "status", "--json")
    assert json.loads(r.stdout)["pending"] == 1
    r = run_kiosk(imported_dir, "sync", "--once")
    assert r.returncode == 0 and "sent 1 events" in r.stdout, r.stderr
    st = json.loads(run_kiosk(imported_dir, "sync", "status", "--json").stdout)
    assert st["pending"] == 0 and st["last_success"] and not st["last_error"]
    # the enrolment made the kiosk's signing key (0600, kept here) and registered its public
    # half: the event went in signed and verifies as the device's
    assert stat.S_IMODE(key_path(imported_dir).stat().st_mode) == 0o600
    device = settings_mod.load(imported_dir).device.id
    with central.engine.connect() as conn:
        assert conn.execute(select(KEYS.c.from_seq, KEYS.c.how)
                            .where(KEYS.c.device_id == device)).all() == [(1, "enrolment")]
    check = verify_device(central.engine, device)
    assert (check.events, check.unsigned, check.problems) == (1, 0, [])
