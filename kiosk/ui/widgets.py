# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Widgets shared by the screens: big buttons with a test id, keypads, coloured panels.

Sizes scale with ``app.u`` (1.0 at 800x480): on the 7-inch Pi panel (about 5.2 px/mm) a
keypad key is at least 80 px, i.e. over 15 mm, so gloved fingers hit it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.clock import Clock
from kivy.core.text import Label as CoreLabel
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput

Builder.load_file(str(Path(__file__).with_name("widgets.kv")))


class KButton(Button):
    """A big flat button; ``tid`` names it for the test hook."""

    tid = StringProperty("")
    bg = ListProperty([0.16, 0.36, 0.62, 1])


class HitRow(KButton):
    """A search result's row; ``width_per_pt`` is its widest line's width per point of type
    (the .kv rule sizes the type so the line fits)."""

    width_per_pt = NumericProperty(1.0)


class KLabel(Label):
    tid = StringProperty("")


class KInput(TextInput):
    tid = StringProperty("")


class Panel(BoxLayout):
    """A box with a solid background colour."""

    bg = ListProperty([0.12, 0.16, 0.21, 1])


class StepPanel(Panel):
    """A panel of one step inside a screen; ``screen`` is the screen it drives."""

    screen = ObjectProperty(None)
    bg = ListProperty([0, 0, 0, 0])


def text_width(text: str, font_size: float, bold: bool = False,
               font_name: str = "Roboto") -> float:
    """The width ``text`` takes on one line, unshortened, in pixels."""
    if not text:
        return 0.0
    core = CoreLabel(text=text, font_size=font_size, bold=bold, font_name=font_name)
    core.refresh()
    return float(core.texture.size[0])


class StatusLabel(Label):
    """One text of a ``StatusBar``. A value (thermometer, camera, sync, warning, duty) is
    as wide as its text; the ``flex`` one (the checkpoint name) takes the rest of the bar.
    ``natural_width`` is the text's width at ``base_font_size``; the bar sets ``fit``."""

    tid = StringProperty("")
    flex = BooleanProperty(False)
    base_font_size = NumericProperty(20)
    fit = NumericProperty(1.0)
    natural_width = NumericProperty(0)
    #: pixels a value's width has beyond its text, so it is never cut by rounding
    slack = NumericProperty(4)
    #: pixels of room before the value, inside it (the bar has no spacing: an empty value
    #: takes no room)
    gap = NumericProperty(0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in ("text", "base_font_size", "bold", "font_name"):
            self.fbind(name, self._measure)
        self._measure()

    def _measure(self, *_args: Any) -> None:
        self.natural_width = text_width(self.text, self.base_font_size, self.bold,
                                        self.font_name)


class StatusBar(Panel):
    """A one-line bar of ``StatusLabel`` s in which no status word is ever cut: the values
    are as wide as their texts, the checkpoint name gets what is left (shortened only if
    the name itself is long), and when even the values would not fit (several devices in
    trouble at once, in English, on the small panel) all the type shrinks a little instead.
    """

    #: room the checkpoint name keeps before the type shrinks, in font sizes (8 characters:
    #: "北苑小区北门" is never cut to "北苑...门")
    NAME_MIN_EM = 8.0
    fit = NumericProperty(1.0)

    def __init__(self, **kwargs: Any) -> None:
        self._refit_soon = Clock.create_trigger(lambda _dt: self.refit(), -1)
        super().__init__(**kwargs)
        self.fbind("size", self._refit_soon)
        self.fbind("spacing", self._refit_soon)
        self.fbind("padding", self._refit_soon)

    def add_widget(self, widget: Any, *args: Any, **kwargs: Any) -> None:
        super().add_widget(widget, *args, **kwargs)
        if isinstance(widget, StatusLabel):
            widget.fbind("natural_width", self._refit_soon)
            self._refit_soon()

    def refit(self) -> None:
        """Each value's width is its text's at ``fit`` plus ``slack`` (see the .kv rule)."""
        labels = [c for c in self.children if isinstance(c, StatusLabel)]
        values = [c for c in labels if not c.flex and c.text]
        room = self.width - self.padding[0] - self.padding[2] \
            - self.spacing * max(0, len(self.children) - 1) \
            - sum(c.slack + c.gap for c in values)
        text = sum(c.natural_width for c in values) + sum(
            min(c.natural_width, self.NAME_MIN_EM * c.base_font_size)
            for c in labels if c.flex)
        fit = max(0.5, min(1.0, room / text)) if text > 0 and room > 0 else 1.0
        # type does not shrink exactly with its size (hinting, the CJK font's steps: the
        # name took 12 px more than its share at 1280x800): measured at the size chosen,
        # a little smaller until it fits
        while fit > 0.5 and room > 0 and self._needs(labels, fit) > room + 0.5:
            fit = max(0.5, fit - 0.02)
        self.fit = fit
        for c in labels:
            c.fit = self.fit

    def _needs(self, labels: list[Any], fit: float) -> float:
        """The texts' widths at ``fit`` (the name: up to its NAME_MIN_EM)."""
        def width(c: Any) -> float:
            return text_width(c.text, c.base_font_size * fit, c.bold, c.font_name)

        return float(sum(width(c) for c in labels if not c.flex and c.text) + sum(
            min(width(c), self.NAME_MIN_EM * c.base_font_size * fit)
            for c in labels if c.flex))


class Keypad(GridLayout):
    """A grid of KButtons; each press fires ``on_key(key)``. Keys are named ``<prefix><key>``
    for the test hook; ``labels`` shows some keys as words (``{"C": "清除"}``) while the model
    still receives the key itself, whatever the language."""

    keys = ListProperty([])
    labels = DictProperty({})
    prefix = StringProperty("key_")
    #: the keys' type size (0: KButton's own) and colour ([]: KButton's own); a blank key
    #: ("") keeps its place, unseen
    key_font_size = NumericProperty(0)
    key_bg = ListProperty([])

    def __init__(self, **kwargs: object) -> None:
        self.register_event_type("on_key")
        super().__init__(**kwargs)
        self.bind(keys=lambda *_: self._build(), labels=lambda *_: self._build(),
                  key_font_size=lambda *_: self._build(), key_bg=lambda *_: self._build())
        self._build()

    def _build(self) -> None:
        self.clear_widgets()
        for key in self.keys:
            if not key:
                self.add_widget(KButton(disabled=True, opacity=0))
                continue
            button = KButton(text=self.labels.get(key, key), tid=f"{self.prefix}{key}")
            if self.key_font_size:
                button.font_size = self.key_font_size
            if self.key_bg:
                button.bg = self.key_bg
            button.bind(on_release=lambda _b, k=key: self.dispatch("on_key", k))
            self.add_widget(button)

    def on_key(self, key: str) -> None:
        pass


class Switcher(BoxLayout):
    """Shows one of several panels, each made on first use. Only the panel shown is in the
    widget tree, so a key of a hidden panel can never be tapped."""

    shown = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._made: dict[str, Any] = {}

    def show(self, name: str, make: Callable[[], Any]) -> bool:
        """Show panel ``name`` (made by ``make()`` the first time); True if it changed."""
        if name == self.shown:
            return False
        if name not in self._made:
            self._made[name] = make()
        self.clear_widgets()
        self.add_widget(self._made[name])
        self.shown = name
        return True
