"""Starting the touchscreen app: Kivy is configured before its first import (KIVY_HOME in
the data directory, no argument parsing, window size, full screen), then ``kioskapp`` (the
App itself) is imported and run. ``kiosk app`` and ``kiosk demo`` call ``run_app``."""

from __future__ import annotations

import os
from pathlib import Path


def configure_kivy(data_dir: Path, *, windowed: bool, size: tuple[int, int]) -> None:
    """Must run before the first ``import kivy``."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    kivy_home = data_dir / "kivy"
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(kivy_home))
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "1" if windowed else "0")
    Config.set("graphics", "fullscreen", "0" if windowed else "auto")
    Config.set("graphics", "borderless", "0" if windowed else "1")
    if windowed:  # desktop: no red multitouch dots on right-click; a kiosk keeps config.ini's
        Config.set("input", "mouse", "mouse,disable_multitouch")  # [input] (RASPBERRY_PI.md)


def run_app(data_dir: Path, *, windowed: bool = False, size: tuple[int, int] = (800, 480),
            simulate_thermometer: bool = False) -> None:
    configure_kivy(data_dir, windowed=windowed, size=size)
    from kiosk.ui.kioskapp import KioskApp

    KioskApp(data_dir, simulate_thermometer=simulate_thermometer).run()
