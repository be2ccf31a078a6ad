"""Where the app's assets are (sounds, a bundled font): the data package ``kiosk.assets``,
mapped from the repository's ``assets/`` (see kiosk/resources.py)."""

from __future__ import annotations

from pathlib import Path

from kiosk.resources import package_dir


def assets_dir() -> Path:
    return package_dir("assets")
