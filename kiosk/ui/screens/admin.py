# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Admin settings behind the admin PIN: checkpoint, thresholds, quota, thermometer (with the
probe), camera, sync URL, export time, language; and leaving the kiosk (asked first).

A tap on a setting opens its pad in place of the form (numbers, pinyin with a candidate
row for Chinese text, a Latin keyboard, or chips), so every setting can be changed on the
touchscreen alone; a USB keyboard types into the same field. The model
(``kiosk.ui.vm.admin``) holds the values and the state; this screen shows it.
"""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.screenmanager import Screen
from kivy.utils import escape_markup

from kiosk.ui.i18n import CATALOGUE
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.admin import (
    BY_NAME,
    CANDIDATE_CONTROLS,
    CHINESE_SYMBOL_KEYS,
    FIELDS,
    SYMBOL_KEYS,
    AdminModel,
    Pad,
)

load_kv(__file__)

PADS = {"form": "AdminForm", "number": "AdminNumberPad", "letters": "AdminLetterPad",
        "symbols": "AdminSymbolPad", "choice": "AdminChoicePad", "pinyin": "AdminPinyinPad"}
BOTTOMS = {"buttons": "AdminButtons", "confirm": "AdminExitConfirm", "none": "AdminNoButtons"}
BACKSPACE_KEYS = (8, 127)
#: message fields that are catalogue keys themselves (a field's label, its rule)
KEY_FIELDS = ("field", "rule")


def shown_value(name: str, value: str, lang: str) -> str:
    """A choice in words (双向 / both), anything else as typed."""
    key = f"choice_{value}"
    if BY_NAME[name].choices and key in CATALOGUE:
        return str(App.get_running_app().tr(key, lang))
    return value


class AdminScreen(Screen):
    message = StringProperty("")
    error = BooleanProperty(False)
    #: "label: value" of the field being edited, or ""
    editing = StringProperty("")
    exit_asked = BooleanProperty(False)
    upper = BooleanProperty(False)
    choices = ListProperty([])
    choice_labels = DictProperty({})
    #: the form's page ("1/3" on the page key)
    page = NumericProperty(0)
    pages = NumericProperty(1)
    page_text = StringProperty("1/1")
    #: the pinyin pad's candidate row (blanks keep the places) and its "more" key's words
    candidate_keys = ListProperty([])
    more_text = StringProperty("")
    symbol_keys = ListProperty(list(SYMBOL_KEYS))

    def keys_across(self) -> int:
        """Keys a keyboard row holds at 15 mm: 9 on a landscape panel, 8 on a portrait
        tablet."""
        return 8 if App.get_running_app().portrait else 9

    def bind_model(self, model: AdminModel) -> None:
        self.model = model
        self._values: dict[str, Any] = {}
        model.subscribe(self.refresh)
        App.get_running_app().bind(lang=lambda *_: self.refresh())

    def on_pre_enter(self, *args: object) -> None:
        self.page = 0
        self.model.reset(App.get_running_app().settings)  # refreshes: the form shows
        self.show_page()  # the first page, with as many rows as this panel holds
        Window.bind(on_textinput=self._on_textinput, on_key_down=self._on_key_down)

    def on_leave(self, *args: object) -> None:
        Window.unbind(on_textinput=self._on_textinput, on_key_down=self._on_key_down)

    def _on_textinput(self, _window: Any, text: str) -> None:
        self.model.type_text(text)

    def _on_key_down(self, _window: Any, key: int, *_args: Any) -> bool:
        if key in BACKSPACE_KEYS and self.model.editing is not None:
            self.model.backspace()
            return True
        return False

    def per_page(self) -> int:
        """Settings a page holds: three rows of two (landscape), seven of one (portrait),
        every row a 15 mm target, at every panel size."""
        return 7 if App.get_running_app().portrait else 6

    def form_grid(self, grid: Any) -> None:
        self._grid = grid
        self.show_page()

    def next_page(self) -> None:
        self.page = (self.page + 1) % self.pages
        self.show_page()

    def show_page(self) -> None:
        """The rows of this page: label, and the value as a button that opens its pad."""
        grid = getattr(self, "_grid", None)
        if grid is None:
            return
        self.pages = -(-len(FIELDS) // self.per_page())
        self.page = min(self.page, self.pages - 1)
        self.page_text = f"{self.page + 1}/{self.pages}"
        grid.clear_widgets()
        self._values = {}
        start = self.page * self.per_page()
        for f in FIELDS[start:start + self.per_page()]:
            label = Factory.AdminFieldLabel()
            grid.add_widget(label)
            box = Factory.AdminFieldValue(tid=f"a_{f.name}")
            box.bind(on_release=lambda _b, n=f.name: self.model.edit(n))
            grid.add_widget(box)
            self._values[f.name] = (label, box)
        self._fill_form()

    def _fill_form(self) -> None:
        app = App.get_running_app()
        for name, (label, box) in self._values.items():
            label.text = app.tr(BY_NAME[name].label)
            box.text = shown_value(name, self.model.values[name], app.lang)

    def refresh(self) -> None:
        app, m = App.get_running_app(), self.model
        if m.message:
            key, fields = m.message
            fields = {k: app.tr(v or "a_rule_any") if k in KEY_FIELDS else v
                      for k, v in fields.items()}
            self.message = app.tr(key, **fields)
        else:
            self.message = "" if m.editing is not None else app.tr("a_edit_hint")
        self.error = m.error
        self.exit_asked = m.exit_asked
        self.upper = m.upper
        if m.editing is not None and not (m.message and m.error):
            f = BY_NAME[m.editing]
            self.choices = list(f.choices)
            self.choice_labels = {c: shown_value(f.name, c, app.lang) for c in f.choices}
            self.symbol_keys = list(CHINESE_SYMBOL_KEYS if f.pad is Pad.CHINESE
                                    else SYMBOL_KEYS)
            # a choice in words; the pinyin typed, underlined, at the cursor (not yet in
            # the field)
            value = escape_markup(shown_value(f.name, m.values[m.editing], app.lang))
            if m.letters:
                value += f"[u]{escape_markup(m.letters)}[/u]"
            self.editing = app.tr("a_editing", field=escape_markup(app.tr(f.label)),
                                  value=value + ("" if f.choices else "▏"))
        else:  # what is wrong with the key just tapped shows in place of the value
            self.editing = ""
        if m.pad == "pinyin":
            across = self.keys_across() - len(CANDIDATE_CONTROLS)
            m.set_candidates_per_page(across)
            shown = list(m.candidates())
            self.candidate_keys = shown + [""] * (across - len(shown))
            page, pages = m.candidate_page()
            self.more_text = app.tr("k_more_page", page=f"{page}/{pages}")
        if self._values:
            self._fill_form()
        pad = m.pad
        self.ids.body.show(pad, lambda: getattr(Factory, PADS[pad])(screen=self))
        bottom = "confirm" if m.exit_asked else "buttons" if m.editing is None else "none"
        self.ids.bottom.show(bottom, lambda: getattr(Factory, BOTTOMS[bottom])(screen=self))
