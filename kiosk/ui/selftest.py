"""Headless checks of an installation (a checkout or the PyInstaller bundle): the kiosk must
never find out at the gate that its migrations, font, drivers or layouts were not packaged.
No window is opened; the database check uses a throw-away directory."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from kiosk.ui.paths import assets_dir

Check = tuple[str, bool, str]


def _database() -> str:
    from kiosk.store.db import current_revision, open_store

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "selftest.sqlite3")
        try:
            return f"migrations applied, revision {current_revision(store.engine)}"
        finally:
            store.close()


def _font() -> str:
    from kiosk.ui.fonts import find_cjk_font

    path = find_cjk_font()
    if path is None:
        raise RuntimeError("no Chinese font found (install fonts-wqy-microhei)")
    return str(path)


def _drivers() -> str:
    for name in ("drivers.registry", "drivers.reader", "drivers.wedge", "drivers.simulator",
                 "drivers.camera", "drivers.probe", "kiosk.qr.decode", "serial"):
        importlib.import_module(name)
    from drivers.registry import PROTOCOLS

    return ", ".join(PROTOCOLS)


def _layouts() -> str:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kiosk-selftest-kivy-"))
    from kivy.lang.parser import Parser

    from kiosk.ui.screens import SCREENS

    missing = [s.name for s in SCREENS if not s.kv_file.is_file()]
    if missing:
        raise RuntimeError(f"layouts of screens {missing} not packaged")
    kv_files = sorted(Path(__file__).parent.glob("**/*.kv"))
    for kv in kv_files:
        Parser(content=kv.read_text(encoding="utf-8"))
    return f"{len(kv_files)} .kv files parse ({len(SCREENS)} screens)"


def _sounds() -> str:
    names = [p.name for p in (assets_dir() / "sounds").glob("*.wav")]
    if not {"pass.wav", "stop.wav"} <= set(names):
        raise RuntimeError(f"sounds missing in {assets_dir()}: have {names}")
    return ", ".join(sorted(names))


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("database", _database), ("font", _font), ("drivers", _drivers),
    ("layouts", _layouts), ("sounds", _sounds),
)


def run_checks(_data_dir: Path | None = None) -> list[Check]:
    out: list[Check] = []
    for name, check in CHECKS:
        try:
            out.append((name, True, check()))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the rest
            out.append((name, False, f"{type(exc).__name__}: {exc}"))
    return out
