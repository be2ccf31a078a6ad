"""Layout checks over the live widget tree of the running app (imported by ``ui_app.py``,
run on the UI thread): what a volunteer would see as broken, each problem named by screen,
widget and numbers.

- a label's text is cut (shortened with "...", or wider/taller than its box) or split
  mid-word;
- two visible texts overlap, or a control (a button) lies over a text that is not its own
  (IN/OUT pushed over the status bar);
- a widget is laid out outside the box or layout that holds it (a column whose contents
  are taller than the column spills them over its neighbours);
- a touch target is under 15 mm, or closer than 1.5 mm to its neighbour, on this panel;
- a text/background colour pair is under 4.5:1 (WCAG 2 relative luminance).
"""

from __future__ import annotations

import re
from typing import Any

#: WCAG AA for text
MIN_CONTRAST = 4.5
#: pixels of tolerance for rounding in Kivy's layouts
SLACK_PX = 1.5


def _name(w: Any) -> str:
    tid = getattr(w, "tid", "") or ""
    text = str(getattr(w, "text", "") or "").replace("\n", " ")[:24]
    if not tid and not text:  # a bare layout: named by the first named thing it holds
        inner = next((c.tid for c in w.walk(restrict=True) if getattr(c, "tid", "")), "")
        return f"{type(w).__name__}[around {inner!r}]"
    return f"{type(w).__name__}[{tid or text!r}]"


def _shown(w: Any) -> bool:
    """On screen and meant to be read/used: every ancestor opaque, not a disabled control
    (WCAG exempts inactive components), not of zero size."""
    node: Any = w
    while node is not None and node is not node.parent:
        if getattr(node, "opacity", 1) == 0:
            return False
        node = node.parent
    return bool(w.width > 1 and w.height > 1) and not getattr(w, "disabled", False)


def _rect(w: Any) -> tuple[float, float, float, float]:
    x, y = w.to_window(w.x, w.y)
    return x, y, float(w.width), float(w.height)


def _clip(w: Any, r: tuple[float, float, float, float]
          ) -> tuple[float, float, float, float] | None:
    """``r`` clipped to every ScrollView around ``w`` (None: scrolled out of sight)."""
    from kivy.uix.scrollview import ScrollView

    x0, y0, x1, y1 = r[0], r[1], r[0] + r[2], r[1] + r[3]
    node = w.parent
    while node is not None and node is not node.parent:
        if isinstance(node, ScrollView):
            sx, sy, sw, sh = _rect(node)
            x0, y0, x1, y1 = max(x0, sx), max(y0, sy), min(x1, sx + sw), min(y1, sy + sh)
        node = node.parent
    if x1 - x0 <= 1 or y1 - y0 <= 1:
        return None
    return x0, y0, x1 - x0, y1 - y0


def luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(max(0.0, min(1.0, c))) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _own_fill(w: Any) -> tuple[float, float, float] | None:
    """The solid colour ``w`` paints under its children, if any: a Button's background,
    a Panel's ``bg``, or a Color+Rectangle in its canvas.before."""
    from kivy.graphics import Color, Rectangle, RoundedRectangle
    from kivy.uix.button import Button

    if isinstance(w, Button) and w.background_normal == "":
        c = w.background_color
        if c[3] > 0.5:
            return (c[0], c[1], c[2])
    for canvas in (getattr(w.canvas, "before", None),):
        if canvas is None:
            continue
        color = None
        fill = None
        for ins in canvas.children:
            if isinstance(ins, Color):
                color = ins.rgba
            elif isinstance(ins, (Rectangle, RoundedRectangle)) and color is not None \
                    and color[3] > 0.5:
                fill = (color[0], color[1], color[2])
        if fill is not None:
            return fill
    return None


def _background(w: Any) -> tuple[float, float, float]:
    node: Any = w
    while node is not None and node is not node.parent:
        fill = _own_fill(node)
        if fill is not None:
            return fill
        node = node.parent
    from kivy.core.window import Window
    c = Window.clearcolor
    return (c[0], c[1], c[2])


def _text_box(w: Any) -> tuple[float, float, float, float]:
    """Where the label's text is drawn, in window coordinates (texture centred by Kivy's
    Label rule, text alignment inside the texture)."""
    x, y, width, height = _rect(w)
    tw, th = w.texture_size
    if w.text_size[0] is not None and w.halign in ("left", "right", "center", "justify"):
        # the texture is text_size wide; the ink is narrower: measure the lines
        lines = getattr(w._label, "_cached_lines", [])
        ink = max((ln.w for ln in lines), default=tw)
        if w.halign == "left":
            left = x + (width - tw) / 2 + w.padding_x
        elif w.halign == "right":
            left = x + (width + tw) / 2 - ink - w.padding_x
        else:
            left = x + (width - ink) / 2
        tw = ink
    else:
        left = x + (width - tw) / 2
    bottom = y + (height - th) / 2
    # the ink of a line is a little inside its box: trim the padding Kivy adds
    return left, bottom + 2, tw, max(0.0, th - 4)


def _words_split(w: Any) -> list[str]:
    """Latin words the wrap broke in two ("temper" / "ature")."""
    lines = getattr(w._label, "_cached_lines", [])
    if len(lines) < 2:
        return []
    whole = set(re.findall(r"[A-Za-z]+", w.text))
    broken = []
    for ln in lines:
        for word in ln.words:
            for token in re.findall(r"[A-Za-z]+", word.text):
                if token not in whole:
                    broken.append(token)
    return broken


def _full_width(w: Any) -> float:
    from kivy.core.text import Label as CoreLabel

    core = CoreLabel(text=w.text, font_size=w.font_size, bold=w.bold, font_name=w.font_name)
    core.refresh()
    return float(core.texture.size[0])


def inspect(root: Any, screen: str, px_per_mm: float) -> list[str]:
    """Every problem on the screen under ``root`` (and popups above it)."""
    from kivy.core.window import Window
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    problems: list[str] = []
    from kivy.uix.modalview import ModalView

    popups = [c for c in Window.children if isinstance(c, ModalView)]
    widgets = [w for top in [root, *popups] for w in top.walk() if _shown(w)]
    texts: list[tuple[Any, tuple[float, float, float, float]]] = []
    targets: list[tuple[Any, tuple[float, float, float, float]]] = []
    for w in widgets:
        if isinstance(w, (ButtonBehavior, TextInput)):
            r = _clip(w, _rect(w))
            if r is not None and (r[2] >= w.width - 1 and r[3] >= w.height - 1):
                targets.append((w, r))  # fully in sight (a half-scrolled row is scrolled)
        if not isinstance(w, Label) or not str(w.text).strip():
            continue
        w.texture_update()
        x, y, width, height = _rect(w)
        if _clip(w, (x, y, width, height)) is None:
            continue  # scrolled out of sight
        scrolled = _clip(w, (x, y, width, height)) != (x, y, width, height)
        tw, th = w.texture_size
        where = f"{screen}: {_name(w)}"
        if w.shorten and w.text_size[0] is not None and _full_width(w) > w.text_size[0] + 1:
            problems.append(f"{where} text cut: needs {_full_width(w):.0f} px, has "
                            f"{w.text_size[0]:.0f} px")
        if th > height + SLACK_PX:
            problems.append(f"{where} text overflows its box: {th:.0f} px tall in "
                            f"{height:.0f} px")
        if tw > width + SLACK_PX:
            problems.append(f"{where} text overflows its box: {tw:.0f} px wide in "
                            f"{width:.0f} px")
        if not scrolled and (x < -SLACK_PX or y < -SLACK_PX or x + width > Window.width + SLACK_PX
                or y + height > Window.height + SLACK_PX):
            problems.append(f"{where} box outside the window: {x:.0f},{y:.0f} "
                            f"{width:.0f}x{height:.0f}")
        box = _text_box(w)
        if not scrolled and (box[1] + box[3] > Window.height or box[1] < 0):
            problems.append(f"{where} text touches the window's edge: {box[1]:.0f}.."
                            f"{box[1] + box[3]:.0f} of {Window.height}")
        broken = _words_split(w)
        if broken:
            problems.append(f"{where} words split mid-word: {broken}")
        fg = (w.color[0], w.color[1], w.color[2])
        bg = _background(w)
        ratio = contrast(fg, bg)
        if ratio < MIN_CONTRAST:
            problems.append(f"{where} contrast {ratio:.1f}:1 < {MIN_CONTRAST}:1 "
                            f"(text {_hex(fg)} on {_hex(bg)})")
        clipped = _clip(w, box)
        if clipped is not None:
            texts.append((w, clipped))
    for i, (a, ra) in enumerate(texts):
        for b, rb in texts[i + 1:]:
            if _related(a, b):
                continue
            ox, oy = _overlap(ra, rb)
            if ox > SLACK_PX and oy > SLACK_PX:
                problems.append(f"{screen}: texts overlap by {ox:.0f}x{oy:.0f} px: "
                                f"{_name(a)} and {_name(b)}")
    for t, rt in texts:
        for b, rb in targets:
            if _related(t, b):
                continue
            ox, oy = _overlap(rt, rb)
            if ox > SLACK_PX and oy > SLACK_PX:
                problems.append(f"{screen}: {_name(b)} lies over the text of {_name(t)} "
                                f"by {ox:.0f}x{oy:.0f} px")
    problems += _outside_parents(widgets, screen)
    need = 15 * px_per_mm
    gap_need = 1.5 * px_per_mm
    for w, r in targets:
        if min(r[2], r[3]) < need - 0.05:
            problems.append(f"{screen}: {_name(w)} touch target {r[2]:.0f}x{r[3]:.0f} px = "
                            f"{r[2] / px_per_mm:.1f}x{r[3] / px_per_mm:.1f} mm < 15 mm")
    for i, (a, ra) in enumerate(targets):
        for b, rb in targets[i + 1:]:
            if _related(a, b):
                continue
            gx = max(ra[0], rb[0]) - min(ra[0] + ra[2], rb[0] + rb[2])
            gy = max(ra[1], rb[1]) - min(ra[1] + ra[3], rb[1] + rb[3])
            # neighbours: side by side (overlapping rows) or stacked (overlapping columns)
            gap = gx if gy < 0 else gy if gx < 0 else None
            if gap is not None and gap < gap_need - 0.5:
                problems.append(f"{screen}: gap {gap:.1f} px = {gap / px_per_mm:.1f} mm < "
                                f"1.5 mm between {_name(a)} and {_name(b)}")
    return problems


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]
             ) -> tuple[float, float]:
    """How far two rectangles overlap, across and up (negative: apart)."""
    return (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]),
            min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))


def _outside_parents(widgets: list[Any], screen: str) -> list[str]:
    """Widgets a box or grid layout placed outside itself: its contents need more room than
    it has, so they spill over whatever lies next to it. The contents of a ScrollView are
    meant to be larger than it, and are clipped to it."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.gridlayout import GridLayout
    from kivy.uix.scrollview import ScrollView

    problems = []
    for w in widgets:
        parent = w.parent
        if not isinstance(parent, (BoxLayout, GridLayout)) or isinstance(parent, ScrollView) \
                or _clip(w, _rect(w)) != _rect(w):
            continue
        x, y, width, height = _rect(w)
        px, py, pw, ph = _rect(parent)
        out = max(px - x, py - y, x + width - px - pw, y + height - py - ph)
        if out > SLACK_PX:
            problems.append(f"{screen}: {_name(w)} lies {out:.0f} px outside its "
                            f"{_name(parent)} ({x:.0f},{y:.0f} {width:.0f}x{height:.0f} in "
                            f"{px:.0f},{py:.0f} {pw:.0f}x{ph:.0f})")
    return problems


def _related(a: Any, b: Any) -> bool:
    """One inside the other (a label in its button)."""
    def ancestors(w: Any) -> set[int]:
        out = set()
        while w is not None and w is not w.parent:
            out.add(id(w))
            w = w.parent
        return out
    return id(a) in ancestors(b) or id(b) in ancestors(a)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)
