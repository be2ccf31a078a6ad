"""Touch targets are sized in millimetres of the real panel: its width comes from the
setting ``ui.panel_width_mm`` or, unset, from the resolution of a known panel."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import settings as settings_mod
from kiosk.ui.panel import px_per_mm


def test_known_panels_and_the_setting():
    assert px_per_mm((800, 480)) == pytest.approx(800 / 154)  # official 7-inch Pi panel
    assert px_per_mm((1280, 800)) == pytest.approx(1280 / 217)  # 10-inch tablet
    assert px_per_mm((800, 1280)) == pytest.approx(1280 / 217)  # the same, in portrait
    assert px_per_mm((800, 480), width_mm=100) == 8.0  # a setting wins
    assert 15 * px_per_mm((1920, 1080)) > 80  # unknown: a 10-inch density, never tiny keys


def test_a_panel_width_that_makes_no_sense_is_refused(data_dir: Path):
    s = settings_mod.load(data_dir)
    with pytest.raises(settings_mod.SettingsError, match="panel_width_mm"):
        settings_mod.set_value(s, "ui.panel_width_mm", "-5")  # as `kiosk config set` does
    settings_mod.set_value(s, "ui.panel_width_mm", "222")
    assert s.ui.panel_width_mm == 222.0
