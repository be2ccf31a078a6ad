# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Admin settings behind the admin PIN: checkpoint, thresholds, quota, thermometer (with the
probe), camera, sync URL, export time, language; and leaving the kiosk."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.ui.screens import load_kv
from kiosk.ui.vm.admin import FIELDS, AdminModel
from kiosk.ui.widgets import KInput, KLabel

load_kv(__file__)


class AdminScreen(Screen):
    message = StringProperty("")

    def bind_model(self, model: AdminModel) -> None:
        self.model = model
        self._inputs: dict[str, KInput] = {}
        model.subscribe(self.refresh)

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        self.model.reset(app.settings)
        grid = self.ids.fields
        grid.clear_widgets()
        self._inputs = {}
        for name, label in FIELDS:
            row = max(app.u * 60, app.mm * 15.5)  # a field is a touch target: 15 mm
            grid.add_widget(KLabel(text=app.tr(label), size_hint_y=None, height=row,
                                   halign="right"))
            box = KInput(text=self.model.values[name], tid=f"a_{name}", size_hint_y=None,
                         height=row)
            box.bind(text=lambda _w, text, n=name: self.model.set(n, text))
            grid.add_widget(box)
            self._inputs[name] = box

    def refresh(self) -> None:
        app = App.get_running_app()
        m = self.model.message
        self.message = app.tr(m[0], **m[1]) if m else ""
        for name, box in self._inputs.items():
            if box.text != self.model.values[name]:
                box.text = self.model.values[name]
