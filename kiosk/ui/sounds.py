"""Result sounds: a two-tone chime for "pass", a low buzz for "stop". Never fails: with no
audio device (Xvfb, a Pi without a speaker) the app stays silent, and does not even load
Kivy's SDL2 mixer and its codecs (about 5 MB of a Pi's memory, docs/BENCHMARKS.md)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kiosk.ui.paths import assets_dir

log = logging.getLogger(__name__)


def has_audio_device(snd: Path = Path("/dev/snd")) -> bool:
    """Whether sound can be played here: an ALSA playback device (``pcmC<card>D<n>p``, a
    Pi's headphone jack or HDMI), or an audio driver chosen for SDL (``SDL_AUDIODRIVER``,
    e.g. pulseaudio)."""
    if os.environ.get("SDL_AUDIODRIVER"):
        return True
    try:
        return any(snd.glob("pcmC*D*p"))
    except OSError:
        return False


class Sounds:
    def __init__(self, audio: bool | None = None) -> None:
        """``audio``: whether there is a device to play on (None: look, has_audio_device)."""
        self._audio = has_audio_device() if audio is None else audio
        self._cache: dict[str, Any] = {}

    def _load(self, name: str) -> Any:
        if not self._audio:
            return None
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
