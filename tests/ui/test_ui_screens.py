"""The screen registry is the one place the app builds its screens from: every entry has its
module and layout, and every screen a layout or a screen opens is registered."""

from __future__ import annotations

import re
from pathlib import Path

from kiosk.ui.screens import BY_NAME, SCREENS

SCREENS_DIR = Path(__file__).resolve().parents[2] / "kiosk" / "ui" / "screens"


def test_every_registered_screen_has_its_module_and_layout():
    assert len(BY_NAME) == len(SCREENS), "two screens with the same name"
    for entry in SCREENS:
        module, cls = entry.where.split(":")
        source = (SCREENS_DIR / f"{module}.py").read_text(encoding="utf-8")
        assert f"class {cls}(" in source, entry
        assert entry.kv_file.is_file(), entry
        assert (entry.model is None) == ("def bind_model" not in source), entry


def test_every_screen_the_app_goes_to_is_registered():
    targets = set()
    for path in [*SCREENS_DIR.glob("*.kv"), *SCREENS_DIR.glob("*.py"),
                 SCREENS_DIR.parent / "kioskapp.py"]:
        text = path.read_text(encoding="utf-8")
        targets |= set(re.findall(r"\bgo\(\"(\w+)\"\)", text))
        targets |= set(re.findall(r"sm\.current = \"(\w+)\"", text))
    assert targets and targets <= set(BY_NAME), targets - set(BY_NAME)
