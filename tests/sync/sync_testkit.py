"""Fixtures and helpers of the sync tests: a real PostgreSQL 15 started for the run, a real
uvicorn server in a child process on 127.0.0.1, kiosks with their own data directories.

Import the fixtures into a test module (``from sync_testkit import central  # noqa: F401``);
the PostgreSQL cluster is one per test run whichever modules use it.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from kiosk import settings as settings_mod
from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.gate import Gate, GateResult
from kiosk.server import admin
from kiosk.server.db import make_server_engine
from kiosk.server.ingest import EV
from kiosk.settings import Settings
from kiosk.store.db import Store, open_store
from kiosk.store.importer import apply_roster, parse_roster
from kiosk.sync import state
from kiosk.sync.client import SyncClient
from kiosk.sync.runner import Syncer, SyncReport

REPO = Path(__file__).resolve().parents[2]
ROSTER = (
    "name,building,unit,room,household,phone,pass_number,pass_kind,valid_from,valid_to\n"
    "张一,1,1,101,1-1-101,13800000001,R1,resident,2020-01-01,2099-12-31\n"
    "张二,1,1,101,1-1-101,13800000002,R2,resident,2020-01-01,2099-12-31\n"
    "李三,2,1,202,2-1-202,13800000003,R3,resident,2020-01-01,2099-12-31\n"
    "王铁路,7,1,201,7-1-201,13800000004,W1,worker,2020-01-01,2099-12-31\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- PostgreSQL -------------------------------------------------------------------------
def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (15 on this project's machines)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else None


class PostgresCluster:
    """A throw-away PostgreSQL cluster in a temporary directory, on 127.0.0.1 and a free port.

    The server refuses to run as root, so as root it runs as the ``postgres`` user (the
    directory is handed to that user). ``durable=False`` turns fsync off (tests);
    benchmarks keep PostgreSQL's defaults."""

    def __init__(self, bindir: Path, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.port = free_port()
        self._names = itertools.count(1)
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresCluster:
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o755)
        data = self.root / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200")
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.root / "log"),
                  "-w", "-t", "60", "-o", opts, "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                      "immediate", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self, prefix: str = "central") -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


_cluster: PostgresCluster | None = None


def shared_cluster() -> PostgresCluster:
    """The run's one cluster, started on first use and stopped when the run ends."""
    global _cluster
    if _cluster is None:
        bindir = postgres_bin()
        if bindir is None:
            pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); "
                        "scripts/bootstrap installs postgresql-15")
        _cluster = PostgresCluster(bindir).start()
        atexit.register(_cluster.stop)
    return _cluster


def database_url(backend: str, tmp: Path) -> str:
    if backend == "postgresql":
        return shared_cluster().new_database()
    return f"sqlite:///{tmp / 'central.sqlite3'}"


# --- the central store in a child process -----------------------------------------------
class CentralServer:
    """``kiosk serve`` in a child process, as the command runs it. By default it believes
    X-Forwarded-For from 127.0.0.1 (the tests play a TLS proxy on the same host, to come
    from many addresses); ``options`` replace that."""

    def __init__(self, db_url: str, data_dir: Path, port: int | None = None,
                 workers: int = 1, options: tuple[str, ...] = ("--trusted-proxy", "127.0.0.1"),
                 env: dict[str, str] | None = None) -> None:
        """``env``: added to the child's environment (e.g. a clock that is off:
        ``skewed_clock_env``)."""
        self.env = env or {}
        self.db_url = db_url
        self.workers = workers
        self.options = options
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._engine: Engine | None = None

    @property
    def url(self) -> str:
        scheme = "https" if "--ssl-certfile" in self.options else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> CentralServer:
        env = {**os.environ, "KIVY_NO_ARGS": "1", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "--data-dir", str(self.data_dir), "serve",
             "--db", self.db_url, "--port", str(self.port), "--workers", str(self.workers),
             *self.options],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "server.log", "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: "
                                   + (self.data_dir / "server.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1,
                             verify=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as in a power cut."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """A connection to the server's database, for assertions and admin chores."""
        if self._engine is None:
            self._engine = make_server_engine(self.db_url)
        return self._engine

    def enrolment_code(self, checkpoint: str, compound: str = "default") -> str:
        return admin.make_enrolment_code(self.engine, checkpoint, compound)

    def event_count(self, compound: str | None = None) -> int:
        q = select(func.count()).select_from(EV)
        if compound is not None:
            q = q.where(EV.c.compound == compound)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def findings(self, compound: str, kind: str | None = None
                 ) -> list[tuple[str, int | None, str]]:
        from kiosk.server.ingest import FI

        with self.engine.connect() as conn:
            q = (select(FI.c.kind, FI.c.seq, FI.c.detail).where(FI.c.compound == compound)
                 .order_by(FI.c.id))
            if kind is not None:
                q = q.where(FI.c.kind == kind)
            return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def central(backend: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[CentralServer]:
    """One server per module and backend; each test's kiosks get a compound of their own,
    so tests do not see each other's events."""
    d = tmp_path_factory.mktemp("central")
    server = CentralServer(database_url(backend, d), d).start()
    yield server
    server.stop()


#: started in a child process whose clock must be off: its wall clock (time.time, and
#: datetime.now for the modules that import datetime after it) runs SKEW seconds off
_SKEWED_CLOCK = '''\
import datetime as _dt
import os
import time as _time

_skew = float(os.environ["KIOSK_TEST_CLOCK_SKEW_S"])
_real_time = _time.time
_time.time = lambda: _real_time() + _skew


class _SkewedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls.fromtimestamp(_time.time(), tz)


_dt.datetime = _SkewedDatetime
'''


def skewed_clock_env(directory: Path, skew_s: float) -> dict[str, str]:
    """The environment of a child process (``CentralServer(env=...)``) whose clock is
    ``skew_s`` seconds off (a Pi without a real-time clock that booted with a wrong time):
    Python loads ``sitecustomize`` from the path at start-up, before anything else."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(_SKEWED_CLOCK, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "KIOSK_TEST_CLOCK_SKEW_S": str(skew_s)}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- kiosks -----------------------------------------------------------------------------
@dataclass
class Kiosk:
    name: str
    data_dir: Path
    store: Store
    settings: Settings
    gate: Gate
    server_url: str
    compound: str

    @property
    def secret(self) -> str:
        secret = state.read_secret(self.data_dir)
        assert secret is not None
        return secret

    def client(self, transport: httpx.BaseTransport | None = None,
               timeout: float = 10.0) -> SyncClient:
        return SyncClient(self.server_url, self.secret, transport=transport, timeout=timeout)

    def syncer(self, transport: httpx.BaseTransport | None = None, **kw: object) -> Syncer:
        return Syncer(self.store.engine, self.data_dir, self.settings.device.id,
                      self.client(transport), **kw)  # type: ignore[arg-type]

    def sync(self, transport: httpx.BaseTransport | None = None) -> SyncReport:
        syncer = self.syncer(transport)
        try:
            return syncer.run()
        finally:
            syncer.client.close()

    def check(self, number: str, direction: str | None = None, temp: float = 36.5
              ) -> GateResult:
        reading = make_reading(temp, source=ReadingSource.MANUAL)
        return self.gate.check(number, [reading],
                               direction=Direction(direction) if direction else None)

    def close(self) -> None:
        self.gate.close()
        self.store.close()


def make_kiosk(root: Path, name: str, server: CentralServer, compound: str = "default",
               roster: str = ROSTER) -> Kiosk:
    """A kiosk with its own data directory and roster, enrolled with ``server``."""
    data_dir = root / name
    settings = settings_mod.load(data_dir)
    settings.checkpoint.id = name
    settings.device.require_clock_sync = False
    store = open_store(data_dir / "kiosk.sqlite3")
    good, bad = parse_roster(roster)
    assert apply_roster(store.engine, good, bad).committed
    code = server.enrolment_code(name, compound)
    with SyncClient(server.url) as client:
        answer = client.enrol(code, settings.device.id)
    state.write_secret(data_dir, answer["secret"])
    settings.sync.url = server.url
    settings_mod.save(data_dir, settings)
    return Kiosk(name, data_dir, store, settings, Gate(store, settings), server.url, compound)


@pytest.fixture
def kiosks(central: CentralServer, tmp_path: Path) -> Iterator[list[Kiosk]]:
    """Two kiosks (gate-1, gate-2) of a new compound, enrolled with ``central``."""
    compound = unique("c")
    made = [make_kiosk(tmp_path, f"gate-{i}", central, compound) for i in (1, 2)]
    yield made
    for k in made:
        k.close()


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process, and the servers it starts, in UTC+8 (as a district's server may be):
    what the store keeps must not depend on it."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def utc_naive_now() -> datetime:
    """Now in UTC without a zone, as the central store keeps its times (the tests' own
    reference, not the product's helper)."""
    return datetime.now(UTC).replace(tzinfo=None)

