"""Finding a font with Chinese glyphs at start-up, so no name ever draws as boxes.

Order: $KIOSK_CJK_FONT, a font bundled in assets/fonts, the usual system paths, fontconfig.
When none is found the app still starts (the gate must work) and shows a red warning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kiosk.ui.paths import assets_dir

log = logging.getLogger(__name__)

ENV_VAR = "KIOSK_CJK_FONT"
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def find_cjk_font() -> Path | None:
    env = os.environ.get(ENV_VAR)
    if env and Path(env).is_file():
        return Path(env)
    bundled = sorted((assets_dir() / "fonts").glob("*.tt[cf]")) + sorted(
        (assets_dir() / "fonts").glob("*.otf"))
    for path in [*bundled, *map(Path, SYSTEM_FONTS)]:
        if path.is_file():
            return path
    try:  # slow path (a subprocess), only when nothing usual is installed
        from kiosk.qr.cards import _fontconfig_cjk_font

        return _fontconfig_cjk_font()
    except Exception:  # noqa: BLE001 - no fontconfig: no font, warn below
        return None


def install_cjk_font() -> Path | None:
    """Make the CJK font Kivy's default for every label; None (and a log line) if none."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    path = find_cjk_font()
    if path is None:
        log.warning("no Chinese font found: install fonts-wqy-microhei or set %s", ENV_VAR)
        return None
    LabelBase.register(DEFAULT_FONT, str(path))
    return path
