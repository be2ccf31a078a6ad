"""Memory of the running kiosk next to a bare Kivy app, measured in the same run.

A 1 GB Pi 3 or a 512 MB Pi Zero 2 W has little to spare, and most of a Kivy app's memory is
the GL driver, which the kiosk cannot change: what counts is what the kiosk adds. Each app
runs in its own process on one private 800x480 Xvfb display (Mesa's software GL, as in the
tests):

- bare Kivy: one Label, the same Kivy configuration as the kiosk;
- the kiosk: the demo compound (about 21,000 residents), camera off (``--camera`` tries index
  0), the simulated thermometer on a pty; peak RSS (VmHWM) after start, then after 100 people
  through the gate flow (identify, reading, record, result screen, back to idle);
  ``--enrolled``: the same compound enrolled for sync (a device key, so every event is signed
  with Ed25519, a sync secret, and a district URL that refuses connections: the sync loop
  runs and backs off, as at a gate whose uplink is down); ``--sound``: as with a speaker
  (SDL's dummy audio driver: the mixer and its codecs load; this machine has no sound card,
  and without one the kiosk stays silent and never loads them);
- both apps see only what a kiosk install has (the base install's dependencies, not the test
  or server extras): modules of other installed distributions cannot be imported in them. In
  the development venv, httpx would otherwise load rich and pygments (its command line, which
  schemathesis's rich makes importable) and httpcore trio (selenium's): about 8 MB that a
  gate never carries;
- each large import's own cost: the RSS it adds to a fresh interpreter that already holds
  what is imported before it (alembic on top of sqlalchemy, and so on; here httpx's with its
  command line, since rich is importable in the development venv).

Run: ``python bench/bench_memory.py [--entry app] [--camera] [--enrolled]`` (about a
minute; the demo compound is made once in bench/out/). Results: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib.abc
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
SIZE = (800, 480)
#: big imports: (what, imported first and not counted, measured)
IMPORTS: tuple[tuple[str, str, str], ...] = (
    ("kivy (App; no window)", "", "kivy.app"),
    ("sqlalchemy core (migrations, tools)", "kivy.app", "sqlalchemy,sqlalchemy.dialects.sqlite"),
    ("sqlalchemy.orm (not loaded by the kiosk)", "kivy.app,sqlalchemy", "sqlalchemy.orm"),
    ("pydantic (central store only)", "kivy.app,sqlalchemy", "pydantic"),
    ("pypinyin (only to import a roster)", "kivy.app,sqlalchemy", "pypinyin"),
    ("alembic (only when a migration is pending)", "sqlalchemy.orm",
     "alembic.command,alembic.script,alembic.runtime.migration"),
    ("cryptography ed25519 (signing)", "kivy.app,sqlalchemy.orm",
     "cryptography.hazmat.primitives.asymmetric.ed25519"),
    ("argon2 (PINs)", "kivy.app,sqlalchemy.orm", "argon2"),
    ("opencv + numpy (only with a camera)", "kivy.app,sqlalchemy.orm", "cv2,numpy"),
    ("zxing-cpp (only with a camera)", "kivy.app,sqlalchemy.orm,cv2,numpy", "zxingcpp"),
    ("httpx (only when enrolled for sync)", "kivy.app,sqlalchemy.orm", "httpx"),
    ("fastapi + uvicorn (central store, never)", "kivy.app,sqlalchemy.orm",
     "fastapi,uvicorn"),
    ("kiosk.cli (its sub-commands load when they run)", "kivy.app,sqlalchemy,argon2",
     "kiosk.cli"),
)


def status_kb(field: str, pid: str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f} MB"


def _dist_key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def kiosk_install() -> set[str]:
    """The distributions a kiosk install has: checkpoint-kiosk and what it requires,
    without extras (``pip install checkpoint-kiosk`` on a Pi)."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [("checkpoint-kiosk", ())]
    while todo:
        name, extras = todo.pop()
        if _dist_key(name) in seen:
            continue
        seen.add(_dist_key(name))
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e})
                                         for e in (extras or ("",))):
                todo.append((req.name, tuple(req.extras)))
    return seen


def not_in_a_kiosk_install() -> list[str]:
    """Top-level modules installed here by distributions a kiosk install does not have
    (none to hide where ``packaging`` is missing: a kiosk's own install, scripts/check-arm64)."""
    try:
        kept = kiosk_install()
    except ImportError:
        return []
    return sorted(m for m, dists in metadata.packages_distributions().items()
                  if not any(_dist_key(d) in kept for d in dists))


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Makes the listed top-level modules unimportable, as on a kiosk without them."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in a kiosk install)",
                                      name=fullname)
        return None


def as_installed() -> None:
    blocked = os.environ.get("BENCH_NOT_INSTALLED", "")
    if blocked:
        sys.meta_path.insert(0, _NotInstalled(set(blocked.split(","))))


# --- children ------------------------------------------------------------------------------

def child_bare() -> None:
    from kiosk.ui.app import configure_kivy  # only sets Kivy's config: no kiosk imports

    configure_kivy(Path(os.environ["KIVY_HOME"]).parent, windowed=True, size=SIZE)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    class Bare(App):
        def build(self) -> Label:
            return Label(text="checkpoint")

        def on_start(self) -> None:
            Clock.schedule_once(lambda _dt: self._report(), 3.0)

        def _report(self) -> None:
            print(f"start {status_kb('VmHWM')}", flush=True)
            self.stop()

    Bare().run()


def child_kiosk(data_dir: Path, people: int, entry: str) -> None:
    if entry == "cli":  # what `kiosk app` (the systemd unit) imports before the app
        import kiosk.cli  # noqa: F401
    from kiosk.ui.app import configure_kivy

    configure_kivy(data_dir, windowed=True, size=SIZE)
    from kivy.clock import Clock

    from kiosk.core.screening import make_reading
    from kiosk.ui.kioskapp import KioskApp
    from kiosk.ui.vm.flow import Phase

    numbers = [f"R{i:06d}" for i in range(1, people + 1)]
    done: list[str] = []

    class Measured(KioskApp):
        def on_start(self) -> None:
            super().on_start()
            Clock.schedule_once(lambda _dt: self._started(), 3.0)

        def _started(self) -> None:
            print(f"start {status_kb('VmHWM')}", flush=True)
            Clock.schedule_interval(lambda _dt: self._step(), 0.02)

        def _step(self) -> None:
            flow = self.flow
            if flow.phase is Phase.IDLE:
                if len(done) == len(numbers):
                    print(f"people {status_kb('VmHWM')} {len(done)}", flush=True)
                    for big in ("sqlalchemy", "alembic", "cryptography", "httpx"):
                        print(f"loaded:{big} {int(big in sys.modules)}", flush=True)
                    self.stop()
                    return
                flow.present(numbers[len(done)], "scanner")
            elif flow.phase is Phase.MEASURING:
                flow.on_reading(make_reading(36.5, taken_monotonic=flow.clock()))
            elif flow.phase is Phase.RESULT:
                done.append(flow.phase.value)
                flow.dismiss()

    Measured(data_dir, simulate_thermometer=True).run()


def child_import(pre: str, modules: str) -> None:
    import importlib

    try:
        for name in filter(None, pre.split(",")):
            importlib.import_module(name)
        before = status_kb("VmRSS")
        for name in modules.split(","):
            importlib.import_module(name)
    except ImportError:  # e.g. the server extra on a kiosk
        print("import -1", flush=True)
        return
    print(f"import {status_kb('VmRSS') - before}", flush=True)


# --- the parent ----------------------------------------------------------------------------

def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("Xvfb")
    if exe is None:
        sys.exit("Xvfb is not installed (scripts/bootstrap installs it)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0",
                             f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        return proc, ":" + pipe.readline().strip()


def run_child(args: list[str], env: dict[str, str], timeout_s: float = 600) -> dict[str, int]:
    r = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                       text=True, timeout=timeout_s)
    if r.returncode != 0:
        sys.exit(f"child {args} failed:\n{r.stdout}\n{r.stderr[-3000:]}")
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def closed_port() -> int:
    """A local TCP port nothing listens on (connections to it are refused at once)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_dir(camera: bool, enrolled: bool) -> Path:
    data = OUT / ("memory-demo-enrolled" if enrolled else "memory-demo")
    env = {**os.environ, "KIVY_NO_ARGS": "1"}
    kiosk = [sys.executable, "-m", "kiosk", "--data-dir", str(data)]
    if not (data / "kiosk.sqlite3").exists():
        subprocess.run([*kiosk, "demo", "--no-app"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    index = "0" if camera else "-1"  # after "--": click would take -1 for an option
    subprocess.run([*kiosk, "config", "set", "--", "camera.index", index], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    if enrolled:  # what `kiosk sync enrol` leaves, without a district to enrol with
        from kiosk.store.devicekey import ensure_key
        from kiosk.sync.state import write_secret

        ensure_key(data)
        write_secret(data, "memory-bench-secret")
        subprocess.run([*kiosk, "config", "set", "sync.url",
                        f"http://127.0.0.1:{closed_port()}/"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    return data


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind != "import":  # import costs: each measured as such, whoever brings it
            as_installed()
        if kind == "bare":
            child_bare()
        elif kind == "kiosk":
            child_kiosk(Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        else:
            child_import(sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=100)
    ap.add_argument("--camera", action="store_true", help="camera.index 0 instead of off")
    ap.add_argument("--sound", action="store_true",
                    help="as with a speaker: SDL's dummy audio driver (the mixer loads)")
    ap.add_argument("--enrolled", action="store_true",
                    help="enrolled for sync: every event signed, the sync loop running")
    ap.add_argument("--entry", choices=("app", "cli"), default="cli",
                    help="cli: import kiosk.cli first, as `kiosk app` does (default); "
                         "app: the app's own modules only")
    args = ap.parse_args()

    data = demo_dir(args.camera, args.enrolled)
    xvfb, display = start_xvfb()
    try:
        env = {**os.environ, "DISPLAY": display, "KIVY_NO_ARGS": "1",
               "KIVY_NO_CONSOLELOG": "1", "PYTHONPATH": str(REPO)}
        env.pop("KIOSK_DATA_DIR", None)
        env["BENCH_NOT_INSTALLED"] = ",".join(not_in_a_kiosk_install())
        if args.sound:
            env["SDL_AUDIODRIVER"] = "dummy"
        else:
            env.pop("SDL_AUDIODRIVER", None)
        bare_home = OUT / "memory-bare" / "kivy"
        bare_home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        bare = run_child(["--child", "bare"], {**env, "KIVY_HOME": str(bare_home)})
        kiosk = run_child(["--child", "kiosk", str(data), str(args.people), args.entry], env)
        elapsed = time.monotonic() - t0
        costs = [(label, run_child(["--child", "import", pre, mods], env)["import"])
                 for label, pre, mods in IMPORTS]
    finally:
        xvfb.terminate()
        xvfb.wait(10)

    camera = "camera index 0" if args.camera else "camera off"
    camera += ", enrolled (every event signed, sync loop on)" if args.enrolled else ""
    camera += ", sound (SDL dummy audio)" if args.sound else ", no audio device"
    print(f"peak RSS (VmHWM), {SIZE[0]}x{SIZE[1]} Xvfb, demo compound, {camera}, "
          f"thermometer simulated on a pty, entry {args.entry} ({elapsed:.0f} s)")
    print(f"{'':34} {'after start':>12} {'after ' + str(args.people) + ' people':>16}")
    print(f"{'bare Kivy app (one Label)':34} {mb(bare['start']):>12} {'-':>16}")
    print(f"{'kiosk app':34} {mb(kiosk['start']):>12} {mb(kiosk['people']):>16}")
    print(f"{'kiosk adds':34} {mb(kiosk['start'] - bare['start']):>12} "
          f"{mb(kiosk['people'] - bare['start']):>16}")
    loaded = [k.split(":")[1] for k, v in kiosk.items() if k.startswith("loaded:") and v]
    print(f"{'the kiosk had loaded':34} {', '.join(loaded) or '-'}")
    if args.enrolled:
        import sqlite3

        with sqlite3.connect(data / "kiosk.sqlite3") as con:
            signed, events = con.execute("SELECT count(signature), count(*) "
                                         "FROM gate_events").fetchone()
        print(f"{'events signed':34} {signed} of {events}")
    print("\nimport costs (RSS added by the import, in a fresh interpreter that already "
          "holds the modules before it):")
    for label, cost in costs:
        print(f"  {label:48} {mb(cost) if cost >= 0 else 'not installed':>8}")


if __name__ == "__main__":
    main()
