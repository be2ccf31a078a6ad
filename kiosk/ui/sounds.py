"""Result sounds: a two-tone chime for "pass", a low buzz for "stop". Never fails: with no
audio device (Xvfb, a Pi without a speaker) the app stays silent."""

from __future__ import annotations

import logging
from typing import Any

from kiosk.ui.paths import assets_dir

log = logging.getLogger(__name__)


class Sounds:
    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def _load(self, name: str) -> Any:
        if name not in self._cache:
            try:
                from kivy.core.audio import SoundLoader

                self._cache[name] = SoundLoader.load(str(assets_dir() / "sounds" / f"{name}.wav"))
            except Exception:  # noqa: BLE001 - no audio provider at all
                log.info("sound %s unavailable", name)
                self._cache[name] = None
        return self._cache[name]

    def play(self, name: str) -> bool:
        sound = self._load(name)
        if sound is None:
            return False
        try:
            sound.stop()
            sound.play()
        except Exception:  # noqa: BLE001
            return False
        return True
