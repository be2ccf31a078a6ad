# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""Who is out now: people whose last movement here was out, the longest out first."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.store.lite import utc_now
from kiosk.ui.i18n import kind_text, tr
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.queries import OutPerson, who_is_out
from kiosk.ui.vm.signin import local_hhmm
from kiosk.ui.widgets import KLabel

load_kv(__file__)


class WhoIsOutScreen(Screen):
    title = StringProperty("")

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        self.title = app.tr("looking_up")
        self.ids.rows.clear_widgets()
        app.runner.submit(lambda: who_is_out(app.store.db), self.show, app.show_error)

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
                           hours=duration_text(p.hours_out(now), app.lang))
            # one column per field, the same widths in every row: the list reads as a table
            row = BoxLayout(size_hint_y=None, height=app.u * 52, spacing=app.u * 8)
            for text, share, tid in ((p.name_masked, 0.14, f"out_{p.pass_number}"),
                                     (p.place, 0.18, ""),
                                     (kind_text(p.kind, app.lang), 0.14, ""),
                                     (p.pass_number, 0.16, ""), (since, 0.38, "")):
                row.add_widget(KLabel(text=text, tid=tid, size_hint_x=share, halign="left",
                                      shorten=True, shorten_from="right",
                                      font_size=app.u * 22))
            rows.add_widget(row)


def duration_text(hours: float, lang: str) -> str:
    """How long someone has been out, in words a volunteer reads at a glance: "25 分钟",
    "2 小时 5 分" (never "0.0 小时")."""
    minutes = max(0, round(hours * 60))
    if minutes < 60:
        return tr("minutes", lang, minutes=minutes)
    return tr("hours_minutes", lang, hours=minutes // 60, minutes=minutes % 60)
