"""What every ``kiosk`` sub-command shares: the per-invocation Context (data directory,
settings and store opened on demand), ``fail()`` and the exit codes.

A module of its own so that the sub-CLIs (drivers/cli.py, kiosk/*/cli.py) need not import the
main command that attaches them (kiosk/cli.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import click

from kiosk import settings as settings_mod
from kiosk.settings import Settings, SettingsError
from kiosk.store.db import Store, StoreCorrupt, StoreError, open_store

DB_FILE = "kiosk.sqlite3"
EXIT_ERROR, EXIT_DENIED, EXIT_REMEASURE, EXIT_CORRUPT = 1, 3, 4, 5


@dataclass
class Context:
    """Per-invocation state: the data directory, and settings and store opened on demand."""

    data_dir: Path
    _settings: Settings | None = None
    _store: Store | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = settings_mod.load(self.data_dir)
            except SettingsError as exc:
                fail(f"settings: {exc}")
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = open_store(self.data_dir / DB_FILE)
            except StoreCorrupt as exc:
                fail(str(exc), EXIT_CORRUPT)
            except (StoreError, OSError) as exc:
                fail(f"cannot open the database in {self.data_dir}: {exc}")
            self.closers.append(self._store.close)
            if self._store.backup_problem:
                click.secho(f"Warning: {self._store.backup_problem}", fg="yellow", err=True)
        return self._store


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


pass_ctx = click.make_pass_decorator(Context)
