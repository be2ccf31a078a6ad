# mypy: disable-error-code="misc"
# (Kivy has no type information: its classes are Any to mypy)
"""The gate screen: direction, the person in front, the temperature, search and keypads.

The right-hand panel changes with the flow's phase (search pad, temperature pad, thermometer
panel, re-measure countdown); only the panel in use is in the widget tree, so a hidden
key can never be tapped.
"""

from __future__ import annotations

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingState
from kiosk.ui.i18n import kind_text, name_text, place_text, reason_text, tr
from kiosk.ui.screens import load_kv
from kiosk.ui.vm.flow import GateFlow, Phase, parse_manual
from kiosk.ui.widgets import HitRow, text_width

load_kv(__file__)


PANELS = {"search": "SearchPad", "manual": "TemperaturePad", "device": "DevicePanel",
          "countdown": "CountdownPanel", "busy": "BusyPanel"}


class GateScreen(Screen):
    phase = StringProperty("idle")
    direction = StringProperty("out")
    #: the direction that will be recorded, shown large while the person is measured
    direction_word = StringProperty("")
    one_way = BooleanProperty(False)
    headline = StringProperty("")
    detail = StringProperty("")
    temp_line = StringProperty("")
    #: the reading shown is not a usable temperature (LO, HI, no target): not in the
    #: colour of a good reading
    temp_invalid = BooleanProperty(False)
    #: the first reading, shown while the countdown to the re-measurement runs
    first_reading = StringProperty("")
    message = StringProperty("")
    #: recording stopped (files removed, disk full): the message is shown in red
    stopped = BooleanProperty(False)
    query = StringProperty("")
    countdown = StringProperty("")
    manual_text = StringProperty("")
    hits = ListProperty([])
    #: the search pad shows the alphabet (pinyin initials) instead of the digits
    letters = BooleanProperty(False)
    #: the last movement may still be undone: the cancel key offers 撤销/Undo
    can_undo = BooleanProperty(False)

    #: the language the hit rows were written in (a switch rewrites them)
    _hits_lang = ""

    def bind_model(self, flow: GateFlow) -> None:
        self.flow = flow
        flow.subscribe(self.refresh)
        App.get_running_app().bind(lang=lambda *_: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        app, f = App.get_running_app(), self.flow
        self.phase = f.phase.value
        self.can_undo = f.can_undo and f.phase is Phase.IDLE
        self.direction = f.direction.value if f.direction is not None else ""
        self.one_way = f.fixed_direction is not None
        # the countdown panel shows the seconds left: the column does not say it again (two
        # more lines there pushed IN/OUT over the status bar at 800x480)
        self.message = app.tr(f.message[0], **translated(f.message[1], app.lang)) \
            if f.message and f.message[0] != "remeasure_in" else ""
        measuring = f.phase in (Phase.MEASURING, Phase.COUNTDOWN)
        self.direction_word = app.tr(f"dir_{f.direction.value}") if (
            measuring and f.direction is not None) else ""
        if measuring and f.papers is not None and not self.message:
            self.message = app.tr("papers_measure_first", reason=reason_text(f.papers, app.lang))
        self.stopped = f.stopped is not None or bool(
            f.message and f.message[0] in ("disk_full", "store_replaced"))
        self.query, self.manual_text = f.search_query, f.manual_text
        self.countdown = str(f.countdown_left)
        p = f.person
        if p is None:
            # with results listed, their rows need the room more than the prompt does
            self.headline = "" if f.search_hits else app.tr("show_pass")
            self.detail = "" if f.search_hits else app.tr("show_pass_hint")
        else:
            self.headline = name_text(p.name_masked, p.kind, app.lang) or p.number or "-"
            self.detail = "  ".join(x for x in (place_text(p.place, p.kind, app.lang),
                                                kind_text(p.kind, app.lang), p.number) if x)
        r = f.last_reading
        if f.phase is Phase.MEASURING and f.manual_mode:
            typed = parse_manual(f.manual_text)
            shown = f"{typed:.1f}" if typed is not None else (f.manual_text or "__._")
            self.temp_line = app.tr("type_temp") + "   " + shown + " °C"
        elif f.phase is Phase.MEASURING:
            shown = f"{r.used_c:.1f} °C" if r is not None and r.used_c is not None else "--"
            invalid = r is not None and r.state is not ReadingState.VALID
            if invalid and r is not None:  # the message below says what to do: no prefix
                self.temp_line = shown + "  " + app.tr("state_" + r.state.value)
            else:
                self.temp_line = app.tr("measuring_device") + "   " + shown
        else:
            self.temp_line = ""
        self.temp_invalid = f.phase is Phase.MEASURING and not f.manual_mode and (
            r is not None and r.state is not ReadingState.VALID)
        first = next((x.used_c for x in f.readings if x.used_c is not None), None)
        self.first_reading = app.tr("first_reading", value=f"{first:.1f}") if (
            f.phase is Phase.COUNTDOWN and first is not None) else ""
        self._show_hits(f)
        kind = "search"
        if f.phase is Phase.MEASURING:
            kind = "manual" if f.manual_mode else "device"
        elif f.phase is Phase.COUNTDOWN:
            kind = "countdown"
        elif f.phase in (Phase.LOOKING_UP, Phase.RECORDING):
            kind = "busy"
        self.ids.right.show(kind, lambda: getattr(Factory, PANELS[kind])(screen=self))

    def _show_hits(self, f: GateFlow) -> None:
        app = App.get_running_app()
        numbers = [h.number for h in f.search_hits]
        if numbers == self.hits and app.lang == self._hits_lang:
            return
        self.hits, self._hits_lang = numbers, app.lang
        box = self.ids.hits
        box.clear_widgets()
        for h in f.search_hits:
            # two lines: the name and the pass number's tail (方* and 方* in one room differ
            # by it), then the room and the kind; a long line gets smaller type, never cut
            lines = ("  ".join(x for x in (h.name_masked, "…" + h.tail) if x),
                     "  ".join(x for x in (h.place, kind_text(h.kind, app.lang)) if x))
            per_pt = max(text_width(line, 100.0) for line in lines) / 100.0
            b = HitRow(text="\n".join(lines), tid=f"hit_{h.number}", width_per_pt=per_pt,
                               bg=[0.16, 0.36, 0.62, 1] if h.usable else [0.4, 0.4, 0.4, 1])
            b.bind(on_release=lambda _b, n=h.number: self.flow.choose(n))
            box.add_widget(b)

    def set_direction(self, value: str) -> None:
        self.flow.set_direction(Direction(value))

    def on_search_key(self, key: str) -> None:
        if key == "search":
            self.flow.search()
        else:
            self.flow.search_key(key)

    def on_temp_key(self, key: str) -> None:
        if key == "OK":
            self.flow.manual_confirm()
        else:
            self.flow.manual_key(key)


def translated(fields: dict[str, object], lang: str) -> dict[str, object]:
    """A message's fields as shown: a reading's state (``LO``, ``HI``...) in words, a
    person's name as the screens say it (a courier recorded as 快递员 is "Courier" in
    English)."""
    state, name, kind = fields.get("state"), fields.get("name"), fields.get("kind")
    if isinstance(state, str) and state != "-":
        fields = {**fields, "state": tr("state_" + state.lower(), lang)}
    if isinstance(name, str) and isinstance(kind, str):
        fields = {**fields, "name": name_text(name, kind, lang)}
    return fields
