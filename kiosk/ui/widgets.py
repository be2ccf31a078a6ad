# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Widgets shared by the screens: big buttons with a test id, keypads, coloured panels.

Sizes scale with ``app.u`` (1.0 at 800x480): on the 7-inch Pi panel (about 5.2 px/mm) a
keypad key is at least 80 px, i.e. over 15 mm, so gloved fingers hit it.
"""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder
from kivy.properties import ListProperty, StringProperty
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


class Keypad(GridLayout):
    """A grid of KButtons; each press fires ``on_key(key)``. Keys are named ``<prefix><key>``
    for the test hook."""

    keys = ListProperty([])
    prefix = StringProperty("key_")

    def __init__(self, **kwargs: object) -> None:
        self.register_event_type("on_key")
        super().__init__(**kwargs)
        self.bind(keys=lambda *_: self._build())
        self._build()

    def _build(self) -> None:
        self.clear_widgets()
        for key in self.keys:
            button = KButton(text=key, tid=f"{self.prefix}{key}")
            button.bind(on_release=lambda b: self.dispatch("on_key", b.text))
            self.add_widget(button)

    def on_key(self, key: str) -> None:
        pass
