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

from kivy.lang import Builder
from kivy.properties import DictProperty, ListProperty, ObjectProperty, StringProperty
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


class Keypad(GridLayout):
    """A grid of KButtons; each press fires ``on_key(key)``. Keys are named ``<prefix><key>``
    for the test hook; ``labels`` shows some keys as words (``{"C": "清除"}``) while the model
    still receives the key itself, whatever the language."""

    keys = ListProperty([])
    labels = DictProperty({})
    prefix = StringProperty("key_")

    def __init__(self, **kwargs: object) -> None:
        self.register_event_type("on_key")
        super().__init__(**kwargs)
        self.bind(keys=lambda *_: self._build(), labels=lambda *_: self._build())
        self._build()

    def _build(self) -> None:
        self.clear_widgets()
        for key in self.keys:
            button = KButton(text=self.labels.get(key, key), tid=f"{self.prefix}{key}")
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
