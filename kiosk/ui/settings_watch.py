"""Noticing that the settings file changed while the app runs, with no Kivy import.

The background sync writes the command's policy (quota, fever threshold, forehead offset)
into ``settings.toml``; so can ``kiosk config set`` from a shell. The app's status tick calls
``SettingsWatch.check`` in the worker: one ``stat`` when nothing changed, a read and a parse
when the file was replaced. The app applies what it returns on the UI thread.

A file that does not parse or validate (half-written by a tool that does not write
atomically, a typo by hand) is never applied: the app keeps the settings it has, logs the
problem once and tries again at the next tick, so a completed file is picked up.
"""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.settings import Settings, SettingsError

log = logging.getLogger(__name__)

Stamp = tuple[int, int, int]  # inode, mtime (ns), size


class SettingsWatch:
    def __init__(self, data_dir: Path, current: Settings) -> None:
        self.path = data_dir / settings_mod.SETTINGS_FILE
        #: this kiosk's identity is made once; a file that says otherwise does not change it
        self.device = current.device
        #: the file as last read successfully (None: read it at the first check)
        self._seen: Stamp | None = None
        self._logged: Stamp | None = None
        #: why the file on disk is not in use (None when it is)
        self.problem: str | None = None

    def _stamp(self) -> Stamp | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def check(self) -> Settings | None:
        """The settings in the file if it changed since the last successful read and is
        valid; None otherwise (unchanged, missing, unreadable or invalid). Runs in the
        worker; it does not compare with the app's settings (the UI thread does)."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return None
        try:
            new = parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SettingsError) as exc:
            self.problem = str(exc)
            if stamp != self._logged:  # once per version of the file, not every tick
                self._logged = stamp
                log.warning("%s changed but is not usable; keeping the settings in use: %s",
                            self.path, exc)
            return None
        self._seen, self.problem = stamp, None
        if new.device != self.device:
            if new.device.id != self.device.id:
                log.warning("%s names device %r; this kiosk stays %r", self.path,
                            new.device.id, self.device.id)
            new.device = self.device  # device settings apply at the next start
        return new

    def read_file(self) -> Settings | None:
        """The settings in the file now, exactly as written (device included), or None
        if it cannot be used; for changing one value in the file and saving it back."""
        try:
            return parse(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SettingsError):
            return None


def parse(text: str) -> Settings:
    """Settings from the file's text, checked as ``kiosk.settings.load`` checks them, but
    with no side effect (``load`` writes a new device id into a file that has none)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"not valid TOML: {exc}") from exc
    new = settings_mod._from_dict(raw)  # the same rules as load()
    new.validate()
    return new
