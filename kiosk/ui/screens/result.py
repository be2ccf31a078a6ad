# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""The result: full-screen green "pass" or red "stop", readable from two metres. A tap
anywhere goes back (after a short guard, so the tap that caused it cannot close it); a
confirmed fever stays until the volunteer confirms the team leader was called."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.messages import Reason
from kiosk.ui.i18n import kind_text, other, place_text, reason_text
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.flow import GateFlow

load_kv(__file__)

GREEN = [0.05, 0.45, 0.18, 1]  # white text on it: 5.4:1 (WCAG AA)
RED = [0.78, 0.12, 0.12, 1]


class ResultScreen(Screen):
    bg = ListProperty(GREEN)
    word = StringProperty("")
    reason = StringProperty("")
    reason_other = StringProperty("")
    #: the facts behind a refusal: the number, the pass's dates, the last and next outing
    detail = StringProperty("")
    who = StringProperty("")
    extra = StringProperty("")
    escalate = BooleanProperty(False)

    def bind_model(self, flow: GateFlow) -> None:
        self.flow = flow
        flow.subscribe(self.refresh)
        App.get_running_app().bind(lang=lambda *_: self.refresh())

    def refresh(self) -> None:
        r = self.flow.result
        if r is None:
            return
        app = App.get_running_app()
        lang = app.lang
        self.bg = GREEN if r.allowed else RED
        self.word = app.tr("pass_big" if r.allowed else "stop_big")
        # a confirmed fever is what the volunteer must act on: it comes first, the papers'
        # problem (expired, quota used...) next to it
        main = Reason.FEVER if r.escalate else r.reason
        also = [reason_text(f, lang) for f in r.findings if f is not main]
        self.reason = reason_text(main, lang) if not r.allowed else ""
        self.reason_other = "   ".join([*also, reason_text(main, other(lang))]) \
            if not r.allowed else ""
        self.detail = "" if r.detail is None else (r.detail.zh if lang == "zh" else r.detail.en)
        p = r.person
        who = [p.name_masked, place_text(p.place, p.kind, lang), kind_text(p.kind, lang)]
        self.who = "   ".join(x for x in who if x)
        extra = [app.tr("dir_in" if r.direction.value == "in" else "dir_out")]
        if r.temperature_c is not None:
            extra.append(app.tr("temperature", value=f"{r.temperature_c:.1f} °C"))
        self.extra = "   ".join(extra)
        self.escalate = r.escalate

    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):
            return True
        if not self.escalate and self.collide_point(*touch.pos):
            self.flow.dismiss()
            return True
        return False
