# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Sign-out with a shift handover summary: movements in and out, people stopped, fevers,
visitors, and who is still out, so the next volunteer knows whom to expect back."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.ui.screens import load_kv
from kiosk.ui.vm.queries import Handover, handover
from kiosk.ui.vm.signin import local_hhmm
from kiosk.ui.widgets import KLabel

load_kv(__file__)

TILES = (("went_in", "h_in"), ("went_out", "h_out"), ("denied", "h_denied"),
         ("fevers", "h_fever"), ("visitors", "h_visitors"))


class HandoverScreen(Screen):
    since = StringProperty("")

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        duty = app.signin.duty
        self.since = ""
        if duty is None:
            return
        app.runner.submit(lambda: handover(app.store.db, duty.started_utc),
                          self.show, app.show_error)

    def show(self, h: Handover) -> None:
        app = App.get_running_app()
        duty = app.signin.duty
        name = duty.volunteer.name if duty else ""
        self.since = app.tr("h_since", name=name, time=local_hhmm(h.since_utc))
        tiles = self.ids.tiles
        tiles.clear_widgets()
        values = [(label, getattr(h, attr)) for attr, label in TILES]
        values.append(("h_still_out", len(h.still_out)))
        for label, value in values:
            tiles.add_widget(KLabel(text=f"[b][size={int(app.u * 56)}]{value}[/size][/b]\n"
                                         f"{app.tr(label)}", markup=True,
                                    tid=f"h_{label}"))
        rows = self.ids.still_out
        rows.clear_widgets()
        for p in h.still_out[:20]:
            rows.add_widget(KLabel(text=f"{p.name_masked}  {p.place}  {p.pass_number}  "
                                        f"{local_hhmm(p.left_utc)}", size_hint_y=None,
                                   height=app.u * 40))

    def confirm(self) -> None:
        App.get_running_app().sign_out()
