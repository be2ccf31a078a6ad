# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Visitor and delivery registration: name, phone, reason, host building, direction; then
the gate screen takes the temperature exactly as for a pass holder."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.model import Direction
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.visitor import REASON_KEYS, VisitorForm

load_kv(__file__)


class VisitorScreen(Screen):
    message = StringProperty("")
    direction = StringProperty("in")
    reason_keys = REASON_KEYS

    def bind_model(self, form: VisitorForm) -> None:
        self.form = form
        form.subscribe(self.refresh)

    def on_pre_enter(self, *args: object) -> None:
        self.form.clear()
        for field in ("v_name", "v_phone", "v_reason", "v_host"):
            self.ids[field].text = ""
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        m = self.form.message
        self.message = app.tr(m[0], **m[1]) if m else ""
        self.direction = self.form.direction.value

    def pick_reason(self, key: str) -> None:
        self.ids.v_reason.text = App.get_running_app().tr(key)

    def set_direction(self, value: str) -> None:
        self.form.direction = Direction(value)
        self.refresh()

    def next(self) -> None:
        f = self.form
        f.name, f.phone = self.ids.v_name.text, self.ids.v_phone.text
        f.reason, f.host_building = self.ids.v_reason.text, self.ids.v_host.text
        visitor = f.visitor()
        if visitor is None:
            return
        app = App.get_running_app()
        if app.flow.start_visitor(visitor, f.direction):
            app.go("gate")
