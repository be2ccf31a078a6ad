"""The fault test: kiosk processes record while the server is killed and restarted, a proxy
on loopback cuts and stalls connections, a kiosk process is killed mid-sync, and every batch
is replayed at the end. The central store must hold exactly the union of all kiosks' events:
no duplicates, no losses, no gap reported that is not there."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sync_testkit import EV, CentralServer, free_port, make_kiosk, unique

from kiosk import settings as settings_mod
from kiosk.server.admin import device_gaps
from kiosk.store.db import open_store
from kiosk.sync import state
from kiosk.sync.client import SyncClient
from kiosk.sync.runner import Syncer, load_events

pytest_plugins = ["sync_testkit"]

HERE = Path(__file__).parent
RUN_S = 10.0
KIOSKS = 3
#: what happens to successive connections (each with random byte budgets)
FATES = ("cut", "pass", "stall", "cut", "pass", "cut")


class ChaosProxy:
    """TCP proxy on 127.0.0.1: each connection is cut after a random number of bytes (in
    either direction: a request half sent, or an answer lost after the server committed;
    soon for a "cut", after a few hundred kB for a "pass"), or stalled and then dropped."""

    def __init__(self, target_port: int, seed: int = 5, stall_s: float = 2.5) -> None:
        self.target_port = target_port
        self.rng = random.Random(seed)
        self.stall_s = stall_s
        self.port = free_port()
        self.fates: dict[str, int] = {"pass": 0, "cut": 0, "stall": 0, "refused": 0}
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stopping = False
        self._lock = threading.Lock()
        self._accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stopping = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError:
            with self._lock:
                self.fates["refused"] += 1
            client.close()
            return
        # the cycle of fates advances only for connections that reach the server, so every
        # fate is dealt however many connections a restart refuses
        with self._lock:
            fate = FATES[self._accepted % len(FATES)]
            self._accepted += 1
            self.fates[fate] += 1
        if fate == "stall":
            time.sleep(self.stall_s)
            client.close()
            upstream.close()
            return
        # kept-alive connections carry many requests: even a "pass" dies after a while
        limit = self.rng.randrange(1, 40_000) if fate == "cut" else \
            self.rng.randrange(100_000, 1_000_000)
        cut_upstream = self.rng.random() < 0.5
        both = (client, upstream)

        def pump(src: socket.socket, dst: socket.socket, budget: int | None) -> None:
            sent = 0
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if budget is not None and sent + len(data) >= budget:
                        dst.sendall(data[: budget - sent])
                        break
                    dst.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            for s in both:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

        threading.Thread(target=pump, args=(client, upstream, limit if cut_upstream else None),
                         daemon=True).start()
        pump(upstream, client, None if cut_upstream else limit)


def _start_kiosk(data_dir: Path, url: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "sync_fault_kiosk.py"), str(data_dir),
                             url, str(seconds)], stdout=subprocess.PIPE, text=True)


def test_the_central_store_holds_exactly_the_union_of_all_kiosks_events(
        central: CentralServer, tmp_path: Path):
    compound = unique("fault")
    dirs = []
    for i in range(KIOSKS):
        k = make_kiosk(tmp_path, f"gate-{i}", central, compound)
        dirs.append(k.data_dir)
        k.close()
    proxy = ChaosProxy(central.port)
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    procs = [_start_kiosk(d, proxy_url, RUN_S) for d in dirs]
    reported: list[set[int]] = [set() for _ in dirs]
    readers = [threading.Thread(target=lambda p=p, r=r: r.update(int(x) for x in p.stdout),
                                daemon=True) for p, r in zip(procs, reported, strict=True)]
    for t in readers:
        t.start()
    # the server dies three times; kiosk 0 is killed mid-whatever once and comes back
    restarts = 0
    start = time.monotonic()
    for when in (2.0, 4.5, 7.0):
        time.sleep(max(0.0, start + when - time.monotonic()))
        central.kill()
        time.sleep(0.5)
        central.start()
        restarts += 1
        if when == 4.5:
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            readers[0].join(5)
            procs[0] = _start_kiosk(dirs[0], proxy_url, RUN_S - when)
            readers[0] = threading.Thread(
                target=lambda p=procs[0], r=reported[0]: r.update(int(x) for x in p.stdout),
                daemon=True)
            readers[0].start()
    for p in procs:
        p.wait(timeout=RUN_S + 20)
    for t in readers:
        t.join(5)
    proxy.close()

    # a clean line at last: every kiosk drains its outbox, then replays its whole history
    union: dict[str, tuple[str, int]] = {}
    replayed = 0
    for d, seen in zip(dirs, reported, strict=True):
        store = open_store(d / "kiosk.sqlite3")
        device = settings_mod.load(d).device.id
        client = SyncClient(central.url, state.read_secret(d))
        Syncer(store.engine, d, device, client).run()
        st = state.status(store.engine, d, central.url)
        assert (st.pending, st.quarantined, st.server_missing) == (0, 0, [])
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, seq FROM gate_events").all()
            union.update({r[0]: (device, r[1]) for r in rows})
            assert seen <= {r[1] for r in rows}  # every event a kiosk reported is there
            ids = [r[0] for r in rows]
            for i in range(0, len(ids), 500):
                ack = client.push(device, load_events(conn, ids[i:i + 500]))
                assert ack["stored"] == 0 and not ack["rejected"]
                replayed += ack["duplicates"]
        client.close()
        store.close()

    with central.engine.connect() as conn:
        q = select(EV.c.id, EV.c.device_id, EV.c.seq).where(EV.c.compound == compound)
        stored = {r.id: (r.device_id, r.seq) for r in conn.execute(q)}
        total = conn.execute(select(func.count()).select_from(EV)
                             .where(EV.c.compound == compound)).scalar_one()
    gaps = {d: g for d, g in device_gaps(central.engine).items()
            if d in {dev for dev, _ in union.values()}}
    print(f"\nfault test ({central.db_url.split(':')[0]}): {len(union)} events recorded by "
          f"{KIOSKS} kiosks, {total} stored centrally, {replayed} replayed as duplicates, "
          f"server restarts {restarts}, proxy {proxy.fates}, gaps {gaps}")
    assert total == len(stored) == len(union)  # no duplicates, nothing lost
    assert stored == union
    assert gaps == {}
    assert proxy.fates["cut"] and proxy.fates["stall"]
