"""The files that ship inside the package: migrations, sounds, fonts.

The repository keeps them in top-level folders (``migrations/``, ``migrations_server/``,
``assets/``); pyproject.toml maps each to a subpackage (``kiosk.migrations`` ...), so a wheel,
an editable install and the PyInstaller bundle all find them the same way, through
importlib.resources, whatever the current directory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_dir(name: str) -> Path:
    """The directory of the data subpackage ``kiosk.<name>`` on disk (Alembic and Kivy's
    loaders want real paths, and the package is never installed zipped)."""
    found = files(f"kiosk.{name}")
    if not isinstance(found, Path):  # e.g. a namespace package: its __init__.py was lost
        raise RuntimeError(f"kiosk.{name} is not one directory on disk ({found!r}): the "
                           "installation is incomplete")
    return found
