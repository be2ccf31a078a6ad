# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Visitor and delivery registration with no physical keyboard: the field boxes on top select
what the big pad below edits (surname grid or pinyin keyboard, digit pad, reason chips); a USB
keyboard types into the same field. Then the gate screen takes the temperature exactly as
for a pass holder."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.core.window import Window
from kivy.factory import Factory
from kivy.properties import DictProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.model import Direction, PassKind
from kiosk.settings import CourierSurname
from kiosk.ui.i18n import name_text, tr
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.queries import buildings, recent_visitors
from kiosk.ui.vm.visitor import FIELDS, REASON_KEYS, TO_SURNAMES, VisitorForm, recent_label

load_kv(__file__)

PADS = {"surnames": "SurnamePad", "letters": "LetterPad", "digits": "DigitPad",
        "reasons": "ReasonPad", "recent": "RecentPad"}
BACKSPACE_KEYS = (8, 127)
TAB_KEY = 9


class VisitorScreen(Screen):
    message = StringProperty("")
    error = StringProperty("")
    direction = StringProperty("in")
    surname_keys = ListProperty([])
    #: the recent pad's keys ("0".. and the way back to the surnames) and their words
    recent_keys = ListProperty([])
    recent_labels = DictProperty({})
    page_text = StringProperty("")
    reason_keys = REASON_KEYS

    def bind_model(self, form: VisitorForm) -> None:
        self.form = form
        form.reason_words = {tr(k, lang): k for k in REASON_KEYS for lang in ("zh", "en")}
        form.subscribe(self.refresh)
        App.get_running_app().bind(lang=lambda *_: self.refresh())

    def guarded(self) -> bool:
        """The pad just changed under the finger (the test hook waits for this too)."""
        return self.form.guarded()

    def open_for(self, reason: str) -> None:
        """A key of the gate screen: the form, given a reason ("r_delivery") or none."""
        self._reason = reason
        App.get_running_app().go("visitor")

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        self.form.clear()
        self.form.ask_courier_surname = \
            CourierSurname(app.settings.checkpoint.courier_surname) is CourierSurname.ASK
        reason, self._reason = getattr(self, "_reason", ""), ""
        if reason:
            self.form.open_for(reason, app.tr(reason))
        self.form.known_buildings = None
        db = app.store.db
        app.runner.submit(lambda: buildings(db), self.form.set_buildings, app.show_error)
        self.form.set_recent(())
        app.runner.submit(lambda: recent_visitors(db), self.form.set_recent, app.show_error)
        Window.bind(on_textinput=self._on_textinput, on_key_down=self._on_key_down)
        self.refresh()

    def on_leave(self, *args: object) -> None:
        Window.unbind(on_textinput=self._on_textinput, on_key_down=self._on_key_down)

    def _on_textinput(self, _window: Any, text: str) -> None:
        self.form.type_text(text)

    def _on_key_down(self, _window: Any, key: int, *_args: Any) -> bool:
        if key in BACKSPACE_KEYS:
            self.form.backspace()
            return True
        if key == TAB_KEY:
            self.form.next_field()
            return True
        return False

    def refresh(self) -> None:
        app, f = App.get_running_app(), self.form
        if f.message:
            self.error, self.message = "1", app.tr(f.message[0], **f.message[1])
        else:
            self.error, self.message = "", app.tr(f.hint())
        self.direction = f.direction.value
        for name in FIELDS:  # set here: the boxes are plain, the form is the truth
            box = self.ids[f"f_{name}"]
            box.value, box.active = f.value(name), name == f.field
        # the courier word (recorded if no surname is given, or recalled) in this language
        self.ids.f_name.value = app.tr("v_courier") if f.courier_unnamed else \
            name_text(f.name, PassKind.VISITOR, app.lang)
        self.surname_keys = list(f.page_surnames())
        self.recent_keys = [str(i) for i in range(len(f.recent))] + [TO_SURNAMES]
        courier = app.tr("v_courier")
        self.recent_labels = {**{str(i): recent_label(v, courier)
                                 for i, v in enumerate(f.recent)},
                              TO_SURNAMES: app.tr("k_surnames")}
        self.page_text = f"{f.page + 1}/{f.pages}"
        pad = f.pad()
        self.ids.pad.show(pad, lambda: getattr(Factory, PADS[pad])(screen=self))

    def on_pad_key(self, key: str) -> None:
        self.form.key(key)
        self._go_on_if_finished()

    def on_recent_key(self, key: str) -> None:
        if key.isdigit():
            self.form.pick_recent(int(key))
        else:
            self.form.key(key)
        self._go_on_if_finished()

    def pick_reason(self, key: str) -> None:
        self.form.pick_reason(key, App.get_running_app().tr(key))
        self._go_on_if_finished()

    def _go_on_if_finished(self) -> None:
        """The last field filled itself, all given and right: no tap on Next."""
        if self.form.finished:
            self.form.finished = False
            self.next()

    def set_direction(self, value: str) -> None:
        self.form.direction = Direction(value)
        self.refresh()

    def next(self) -> None:
        visitor = self.form.visitor()
        if visitor is None:
            return
        app = App.get_running_app()
        if app.flow.start_visitor(visitor, self.form.direction):
            app.go("gate")
