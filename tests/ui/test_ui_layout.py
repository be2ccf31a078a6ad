"""The layout check: every screen state a volunteer meets, at the panel sizes a kiosk runs
on, in Chinese and English, inspected from the live widget tree (layout_inspect.py): no
cut or overflowing text, no overlapping texts, touch targets of 15 mm at least 1.5 mm
apart on the panel, every text/background pair at 4.5:1. One app process walks all sizes
and both languages (the window is resized and the language switched through the hook)."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from ui_testkit import (  # noqa: F401 - fixtures
    ADMIN_PIN,
    SCREENSHOT_ENV,
    KioskUnderTest,
    kiosk,
    passes,
    sim,
    wait_until,
    xvfb,
)

from drivers.simulator import SimulatedThermometer
from kiosk.ui.i18n import tr

#: (width, height): the 7-inch Pi panel, 7-inch HDMI panels, 10-inch tablets, portrait
SIZES = [(800, 480), (1024, 600), (1280, 800), (800, 1280)]


@pytest.fixture
def roster_file(roster_file: Path) -> Path:
    """The shared roster and, in unit 12-3, long names, a long room number and a kind
    whose English is long: the search rows must show them whole."""
    today = date.today()
    valid = f"{today - timedelta(days=10)},{today + timedelta(days=10)}"
    with roster_file.open("a", encoding="utf-8") as f:
        for name, room, number, kind in (("欧阳娜娜丽莎", "1502", "R0012", "resident"),
                                         ("司马长风", "1502", "W0012", "worker"),
                                         ("方芳", "1501", "R0013", "resident"),
                                         ("方圆", "1501", "R0014", "resident")):
            f.write(f"{name},12,3,{room},12-3-{room},13800000000,{number},{kind},{valid}\n")
    return roster_file


class Walk:
    """Walks one app through every state, collecting the inspector's problems."""

    def __init__(self, app: KioskUnderTest, device: SimulatedThermometer) -> None:
        self.app, self.sim = app, device
        self.problems: list[str] = []
        self.label = ""
        self.step = 0

    def check(self, state: str) -> None:
        if os.environ.get(SCREENSHOT_ENV):  # every state, for the contact sheet
            self.app.screenshot(f"state_{self.label.replace(' ', '_')}_{self.step:02d}_"
                                + re.sub(r"\W+", "_", state).strip("_"))
        self.step += 1
        reply = self.app.cmd("inspect")
        assert reply["ok"], reply
        self.problems.extend(f"[{self.label} {state}] {p}" for p in reply["problems"])

    def texts(self) -> dict[str, str]:
        return {w["tid"]: w["text"] for w in self.app.cmd("widgets")["widgets"]}

    def person(self, number: str, temp: float) -> None:
        self.sim.set_temperature(temp)
        self.app.scan(number)

    def result(self, state: str) -> None:
        self.app.wait_screen("result")
        self.check(state)
        tid = "acknowledge" if self.app.flow()["result"]["escalate"] else "result_word"
        self.app.tap(tid)
        self.app.wait_screen("gate")

    def setting(self, name: str) -> None:
        """Tap a setting, turning the form's pages until it is on the one shown."""
        for _ in range(4):
            if self.app.cmd("tap", tid=f"a_{name}")["ok"]:
                return
            self.app.tap("a_page")
        raise AssertionError(f"setting {name} on no page")

    def admin(self) -> None:
        """The form, each pad, a refused value, the question before exiting. The port is
        typed first: the test's pty has a long path, a real port is /dev/ttyUSB0."""
        app = self.app
        self.setting("thermometer.port")
        for key in ("CLR", "/", "d", "⇧", "u"):
            app.tap(f"ak_{key}")
        self.check("admin keyboard")
        app.tap("ak_123")
        app.tap("ak_0")
        self.check("admin keyboard digits")
        app.tap("ak_OK")
        self.check("admin")
        self.setting("fever.observation_point")  # Chinese: pinyin and the candidate row
        for key in ("z", "h"):
            app.tap(f"ak_{key}")
        self.check("admin pinyin")
        app.tap("ak_123")
        self.check("admin pinyin digits")
        app.tap("ak_OK")
        self.setting("screening.fever_threshold_c")
        self.check("admin number pad")
        app.tap("ak_OK")
        self.setting("thermometer.protocol")
        self.check("admin choice")
        app.tap("ac_gy-mcu90614")
        self.setting("checkpoint.courier_surname")  # the last page's chips
        self.check("admin choice courier")
        app.tap("ac_skip")
        self.check("admin last page")
        self.setting("export.time")
        app.tap("ak_CLR")
        app.tap("ak_OK")
        app.tap("a_save")
        wait_until(lambda: app.state()["admin_message"] == "a_invalid", what="refused")
        self.check("admin refused value")
        app.tap("a_exit")
        self.check("admin exit question")
        app.tap("a_exit_no")

    def visitor(self) -> None:
        """A delivery through the form's steps (it moves on by itself), measured."""
        app = self.app
        app.tap("rc_百家姓")
        app.tap("sn_王")
        app.tap("sn_女士")
        wait_until(lambda: app.state()["visitor"]["field"] == "phone", what="on to the phone")
        for key in "13912345678":
            app.tap(f"np_{key}")
        wait_until(lambda: app.state()["visitor"]["field"] == "building", what="building")
        app.tap("np_1")
        app.tap("np_2")
        wait_until(lambda: app.state()["visitor"]["field"] == "reason", what="reason")
        self.check("visitor filled")
        app.tap("r_delivery")  # the last field: on to the temperature by itself
        self.result("visitor result")
        app.tap("visitor")
        app.wait_screen("visitor")
        app.tap("sn_最近")
        wait_until(lambda: app.state()["visitor"]["pad"] == "recent", what="recent")
        self.check("visitor recent")

    def run(self, size: tuple[int, int], lang: str) -> None:
        app = self.app
        self.label = f"{size[0]}x{size[1]} {lang}"
        self.step = 0
        app.cmd("resize", width=size[0], height=size[1])
        wait_until(lambda: app.state()["size"] == list(size), what="resize")
        app.cmd("language", lang=lang)
        if app.state()["screen"] != "signin":
            app.tap("sign_out")
            app.wait_screen("handover")
            self.check("handover")
            app.tap("h_confirm")
        app.wait_screen("signin")
        self.check("signin")
        app.tap("admin")
        for digit in ADMIN_PIN[:2]:
            app.tap(f"pin_{digit}")
        self.check("PIN")
        for digit in ADMIN_PIN[2:]:
            app.tap(f"pin_{digit}")
        app.tap("pin_OK")
        app.wait_screen("admin")
        self.admin()
        app.tap("a_back")
        app.sign_in()
        self.check("gate idle")
        for key in "3-1-402":
            app.tap(f"s_{key}")
        app.tap("s_search")
        wait_until(lambda: len(app.flow()["search_hits"]) == 2, what="search hits")
        self.check("search with hits")
        app.tap("s_C")
        for key in "12-3":
            app.tap(f"s_{key}")
        app.tap("s_search")
        wait_until(lambda: len(app.flow()["search_hits"]) == 4, what="unit 12-3")
        self.check("search long names")
        app.tap("s_C")
        app.tap("dir_out")
        self.person("R0001", 25.0)  # below any forehead: LO, measure again
        wait_until(lambda: app.flow()["message"], what="no valid reading")
        # the value is marked as no reading, in words of this language (not a bare "LO")
        wait_until(lambda: (t := self.texts()).get("temp_line", "").endswith(tr("state_lo", lang))
                   and tr("state_lo", lang) in t.get("message", ""), what="LO in words")
        self.check("measuring (LO)")
        app.tap("cancel")
        app.wait_phase("idle")
        self.person("R0003", 36.5)
        self.result("result pass or quota")
        self.person("R0004", 36.5)
        self.result("result expired")
        self.person("R0002", 38.0)
        app.wait_phase("countdown")
        shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
        assert shown["first_reading"] == tr("first_reading", lang, value="38.0")
        app.tap("visitor")  # not now: the person being re-measured comes first, and it says so
        shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
        assert app.state()["screen"] == "gate" and shown["notice"] == tr("side_trip_busy", lang)
        self.check("fever countdown")
        self.sim.set_temperature(38.4)
        app.wait_screen("result")
        self.check("result fever escalated")
        app.scan("R0003")  # the next card waits: the screen says why
        wait_until(lambda: self.texts().get("result_message") == tr("fever_ack_first", lang),
                   what="fever first")
        self.result("result fever escalated, a card scanned")
        # the status bar now says what became of the fever (one more item in it)
        wait_until(lambda: app.state()["fever"], what="fever in the status bar")
        self.check("gate after a fever")
        self.sim.set_temperature(36.5)
        app.tap("visitor")
        app.wait_screen("visitor")
        self.check("visitor surnames")
        for tap, pad in (("sn_ABC", "letters"), ("f_phone", "digits"),
                         ("f_reason", "reasons"), ("f_name", "letters"), ("kb_百家姓", "surnames"),
                         ("sn_最近", "recent")):
            app.tap(tap)
            wait_until(lambda p=pad: app.state()["visitor"]["pad"] == p, what=pad)
            self.check(f"visitor {pad}")
        if not app.db("select 1 from gate_events where pass_kind = 'visitor'"):
            self.visitor()  # once: then "recent" lists them
        app.tap("v_back")
        app.wait_screen("gate")
        app.tap("delivery")  # the form for a courier: its reason given
        app.wait_screen("visitor")
        wait_until(lambda: app.state()["visitor"]["reason"], what="delivery form")
        self.check("visitor delivery")  # on the phone: the courier's name is optional
        app.tap("f_name")  # the surname given after all (王师傅)
        wait_until(lambda: app.state()["visitor"]["pad"] == "surnames", what="courier surname")
        self.check("visitor delivery surname")
        app.tap("v_back")
        app.wait_screen("gate")
        app.tap("gate_language")  # the switch beside the other keys, both ways
        wait_until(lambda: app.state()["lang"] != lang, what="language switched")
        self.check("gate other language")
        app.tap("gate_language")
        wait_until(lambda: app.state()["lang"] == lang, what="language back")
        app.tap("who_is_out")
        app.wait_screen("whoisout")
        wait_until(lambda: any(w["tid"].startswith("out_R")
                               for w in app.cmd("widgets")["widgets"]), what="who is out")
        self.check("who is out")
        app.tap("back")
        app.wait_screen("gate")


def walk(kiosk, sim, sizes: list[tuple[int, int]]) -> None:  # noqa: F811
    app = kiosk(size=sizes[0])
    w = Walk(app, sim)
    for size in sizes:
        for lang in ("zh", "en"):
            w.run(size, lang)
    assert not w.problems, f"{len(w.problems)} layout problems:\n" + "\n".join(w.problems)


def test_layout_on_the_pi_panel_in_both_languages(kiosk, sim):  # noqa: F811
    walk(kiosk, sim, SIZES[:1])


@pytest.mark.slow
def test_layout_on_every_panel_size(kiosk, sim):  # noqa: F811
    walk(kiosk, sim, SIZES[1:])
