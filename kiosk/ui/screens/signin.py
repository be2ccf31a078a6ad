# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Sign-in screen: tap your name, type your PIN on the pad (also the admin PIN)."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import ListProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.model import Role
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.signin import SignInModel
from kiosk.ui.widgets import KButton

load_kv(__file__)


class SignInScreen(Screen):
    pin_dots = StringProperty("")
    message = StringProperty("")
    prompt = StringProperty("")
    names = ListProperty([])
    mode = StringProperty("volunteer")
    model = ObjectProperty(None)

    def bind_model(self, model: SignInModel) -> None:
        self.model = model
        model.subscribe(self.refresh)
        App.get_running_app().bind(lang=lambda *_: self.refresh())

    def toggle_mode(self) -> None:
        """The admin button: the admin PIN, or back to the volunteers."""
        m = self.model
        m.set_mode(Role.ADMIN if m.mode is Role.VOLUNTEER else Role.VOLUNTEER)

    def refresh(self) -> None:
        app, m = App.get_running_app(), self.model
        self.mode = m.mode
        self.pin_dots = "●" * len(m.pin)
        self.message = app.tr(m.message[0], **m.message[1]) if m.message else ""
        if m.mode is Role.ADMIN:
            self.prompt = app.tr("admin_pin")
        elif m.selected:
            self.prompt = app.tr("pin_for", name=m.selected)
        else:
            self.prompt = app.tr("choose_volunteer")
        if self.names != m.names:
            self.names = list(m.names)
            grid = self.ids.names
            grid.clear_widgets()
            for name in m.names:
                button = KButton(text=name, tid=f"name_{name}", size_hint_y=None,
                                 height=max(app.u * 84, app.mm * 15.2))
                button.bind(on_release=lambda b: self.model.select(b.text))
                grid.add_widget(button)
        for button in self.ids.names.children:
            selected = button.text == m.selected and m.mode is Role.VOLUNTEER
            button.bg = [0.95, 0.6, 0.1, 1] if selected else [0.16, 0.36, 0.62, 1]

    def on_key(self, key: str) -> None:
        if key == "OK":
            self.model.submit()
        else:
            self.model.key(key)
