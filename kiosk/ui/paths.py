"""Where the app's assets are: beside the package in a checkout, or in the PyInstaller
bundle (``sys._MEIPASS``), like ``kiosk.store.db.migrations_dir``."""

from __future__ import annotations

import sys
from pathlib import Path


def assets_dir() -> Path:
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parents[2] / "assets"
