"""The panel's physical size, so touch targets can be sized in millimetres: a gloved finger
needs 15 mm whatever the resolution, and 1.5 mm between keys."""

from __future__ import annotations

#: visible width in mm of the panels a kiosk runs on, by resolution (landscape)
KNOWN_PANELS_MM: dict[tuple[int, int], float] = {
    (800, 480): 154.0,    # official Raspberry Pi 7-inch touch display (154 x 86 mm)
    (1024, 600): 154.0,   # common 7-inch HDMI panels (154 x 86 mm)
    (1280, 800): 217.0,   # 10-inch tablets (217 x 136 mm)
}
#: anything else: a 10-inch panel's density (about 5.9 px/mm)
DEFAULT_PX_PER_MM = 1280 / 217.0
#: a touch target's smallest side and the smallest gap between two targets, in mm
TARGET_MM = 15.0
GAP_MM = 1.5


def px_per_mm(size: tuple[int, int], width_mm: float = 0.0) -> float:
    """Pixels per millimetre of a window filling the panel; ``width_mm`` is the setting
    ``ui.panel_width_mm`` (the panel's width in the orientation it is mounted)."""
    w, h = size
    if width_mm > 0:
        return w / width_mm
    landscape = (max(w, h), min(w, h))
    if landscape in KNOWN_PANELS_MM:
        mm = KNOWN_PANELS_MM[landscape]
        return landscape[0] / mm
    return DEFAULT_PX_PER_MM
