"""The gate core must stay pure: no screen, no database, no devices, no network."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import kiosk.core

FORBIDDEN = ("kivy", "serial", "cv2", "sqlalchemy", "alembic", "httpx", "requests", "sqlite3",
             "socket", "zxingcpp", "drivers", "kiosk.store", "kiosk.ui")


def test_core_sources_import_nothing_impure():
    core_dir = Path(kiosk.core.__file__).parent
    offenders = []
    for path in core_dir.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_importing_the_core_loads_no_impure_module():
    code = (
        "import sys, pkgutil, importlib, kiosk.core\n"
        "for m in pkgutil.iter_modules(kiosk.core.__path__):\n"
        "    importlib.import_module('kiosk.core.' + m.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {list(FORBIDDEN)!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
