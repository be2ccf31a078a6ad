# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Who is out now: people whose last movement here was out, the longest out first."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.ui.i18n import kind_text
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.queries import OutPerson, utc_now, who_is_out
from kiosk.ui.vm.signin import local_hhmm
from kiosk.ui.widgets import KLabel

load_kv(__file__)


class WhoIsOutScreen(Screen):
    title = StringProperty("")

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        self.title = app.tr("looking_up")
        self.ids.rows.clear_widgets()
        app.runner.submit(lambda: who_is_out(app.store.engine), self.show, app.show_error)

    def show(self, people: list[OutPerson]) -> None:
        app = App.get_running_app()
        self.title = app.tr("out_title", count=len(people))
        rows = self.ids.rows
        rows.clear_widgets()
        now = utc_now()
        if not people:
            rows.add_widget(KLabel(text=app.tr("nobody_out"), size_hint_y=None,
                                   height=app.u * 60))
        for p in people:
            since = app.tr("out_since", time=local_hhmm(p.left_utc),
                           hours=f"{p.hours_out(now):.1f}")
            text = f"{p.name_masked}   {p.place}   {kind_text(p.kind, app.lang)}   " \
                   f"{p.pass_number}   {since}"
            rows.add_widget(KLabel(text=text, tid=f"out_{p.pass_number}", size_hint_y=None,
                                   height=app.u * 52, halign="left"))
