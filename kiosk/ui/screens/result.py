# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""The result: full-screen green "pass" or red "stop", readable from two metres. A tap
anywhere goes back (after a short guard, so the tap that caused it cannot close it).

A confirmed fever is another situation than papers not in order, and looks it: its own
colour (purple, not the red of an expired pass), "call the team leader" once with the
leader's phone, both readings, the next step (the observation point), the papers' problem
beside it. It stays until the volunteer confirms who was called, which is recorded."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.messages import Reason
from kiosk.ui.i18n import kind_text, name_text, other, place_text, reason_text, tr
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.flow import GateFlow, ResultView

load_kv(__file__)

GREEN = [0.05, 0.45, 0.18, 1]  # white text on it: 5.4:1 (WCAG AA)
RED = [0.78, 0.12, 0.12, 1]
#: a confirmed fever: white on it 11:1, the yellow call line 8:1
FEVER = [0.33, 0.11, 0.5, 1]
WHITE = [0.95, 0.95, 0.95, 1]
YELLOW = [1, 0.85, 0.3, 1]


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
    #: a fever: both readings, the next step, the acknowledge button's words
    readings = StringProperty("")
    next_step = StringProperty("")
    ack_text = StringProperty("")
    fg = ListProperty(WHITE)
    #: why a tap or a scan did nothing while the fever waits, or why the acknowledgement
    #: could not be recorded (the flow's message)
    message = StringProperty("")

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
        self.escalate = r.escalate
        if r.escalate:
            self._fever(r, app)
            return
        self.readings = self.next_step = self.ack_text = self.message = ""
        self.fg = WHITE
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
        who = [name_text(p.name_masked, p.kind, lang), place_text(p.place, p.kind, lang),
               kind_text(p.kind, lang)]
        self.who = "   ".join(x for x in who if x)
        extra = [app.tr("dir_in" if r.direction.value == "in" else "dir_out")]
        if r.temperature_c is not None:
            extra.append(app.tr("temperature", value=f"{r.temperature_c:.1f} °C"))
        self.extra = "   ".join(extra)

    def _fever(self, r: ResultView, app: Any) -> None:
        lang, fever = app.lang, app.settings.fever
        self.bg, self.fg = FEVER, YELLOW
        self.word = app.tr("fever_big")
        leader = " ".join(x for x in (fever.leader_name, fever.leader_phone) if x)
        self.reason = app.tr("call_leader_who", who=leader) if leader else app.tr("call_leader")
        # the other language, and what else is wrong (expired, quota...): no second 联系组长
        papers = [reason_text(f, lang) for f in r.findings if f is not Reason.FEVER]
        self.reason_other = "   ".join([*papers, tr("call_leader", other(lang))])
        values = [f"{c:.1f} °C" for c in r.readings_c]
        self.readings = app.tr("fever_readings", first=values[0], second=values[-1]) \
            if len(values) > 1 else app.tr("temperature", value=values[0]) if values else ""
        self.next_step = app.tr("fever_next_point", point=fever.observation_point) \
            if fever.observation_point else app.tr("fever_next_wait")
        self.detail = "" if r.detail is None else (r.detail.zh if lang == "zh" else r.detail.en)
        p = r.person
        self.who = "   ".join(x for x in (name_text(p.name_masked, p.kind, lang), p.place,
                                          kind_text(p.kind, lang),
                                          app.tr("dir_" + r.direction.value)) if x)
        self.extra = ""
        self.ack_text = app.tr("acknowledge_who", who=leader) if leader \
            else app.tr("acknowledge")
        m = self.flow.message
        self.message = app.tr(m[0], **m[1]) if m else ""

    def acknowledge(self) -> None:
        """The button: the volunteer called the leader (the setting's name and phone)."""
        fever = App.get_running_app().settings.fever
        called = " ".join(x for x in (fever.leader_name, fever.leader_phone) if x)
        self.flow.acknowledge(called or "组长 / team leader")

    def on_touch_down(self, touch: Any) -> bool:
        if super().on_touch_down(touch):
            return True
        if not self.escalate and self.collide_point(*touch.pos):
            self.flow.dismiss()
            return True
        return False
