"""The screens' view models driven without a window: real store, real gate, fake clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kiosk_testing import Tick

from drivers.reader import ReaderState
from kiosk.core.model import Direction, Role
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.gate import DirectionMode
from kiosk.store.events import Visitor
from kiosk.store.lite import utc_now
from kiosk.store.volunteers import LOCKOUT_S, MAX_FAILED_ATTEMPTS, add_volunteer, sign_in
from kiosk.ui.i18n import CATALOGUE, LANGUAGES, tr
from kiosk.ui.vm.base import InlineRunner, ManualRunner
from kiosk.ui.vm.flow import GateFlow, Phase, parse_manual
from kiosk.ui.vm.queries import buildings, handover, who_is_out
from kiosk.ui.vm.signin import SignInModel
from kiosk.ui.vm.status import CAMERA_OFF, CameraState, camera_status
from kiosk.ui.vm.visitor import (
    BACK,
    CLEAR,
    MORE,
    SPACE,
    SURNAMES,
    SURNAMES_PER_PAGE,
    TO_LETTERS,
    TO_SURNAMES,
    VisitorForm,
)


@pytest.fixture
def flow(gate, tick) -> GateFlow:  # noqa: ANN001
    f = GateFlow(gate, InlineRunner(), clock=tick, remeasure_wait_s=5.0)
    f.set_thermometer_state(ReaderState.CONNECTED)
    return f


def device(c: float, tick: Tick):  # noqa: ANN201
    return make_reading(c, source=ReadingSource.DEVICE, taken_monotonic=tick())


def events(store) -> list[tuple]:  # noqa: ANN001
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(
            "select pass_number, direction, outcome, reason, escalated, visitor_name "
            "from gate_events order by seq").all()


def test_every_catalogue_key_has_chinese_and_english():
    for key, pair in CATALOGUE.items():
        assert len(pair) == len(LANGUAGES) and all(p.strip() for p in pair), key
        zh, en = pair
        if key != "language":  # the switch is labelled in the language it switches to
            assert any("\u4e00" <= c <= "\u9fff" for c in zh), f"{key}: zh is not Chinese"
    assert tr("pin_wrong", "en", left=2) == "Wrong PIN: 2 tries left"
    assert tr("no_such_key") == "no_such_key"


def test_a_normal_reading_lets_the_holder_out_and_records_once(flow, tick, loaded_store):
    flow.set_direction(Direction.OUT)
    flow.present("R0003", "scanner")
    assert flow.phase is Phase.MEASURING and flow.person.name_masked == "王*"
    tick.advance(0.1)
    old = make_reading(36.4, taken_monotonic=tick() - 5)  # before the person was identified
    flow.on_reading(old)
    assert flow.phase is Phase.MEASURING
    flow.on_reading(device(36.5, tick))
    assert flow.phase is Phase.RESULT and flow.result.allowed
    flow.on_reading(device(36.5, tick))  # the thermometer keeps streaming: nothing more
    flow.present("R0003", "scanner")  # the same card again dismisses and starts over
    assert [e[:3] for e in events(loaded_store)] == [("R0003", "out", "allow")]


def test_fever_is_remeasured_after_the_countdown_then_escalated(flow, tick, loaded_store):
    flow.present("R0001", "qr")
    tick.advance(0.1)
    flow.on_reading(device(38.0, tick))
    assert flow.phase is Phase.COUNTDOWN and flow.countdown_left == 5
    flow.on_reading(device(38.1, tick))  # ignored during the countdown
    tick.advance(5.1)
    flow.tick()
    assert flow.phase is Phase.MEASURING and flow.message[0] == "remeasure_now"
    tick.advance(0.1)
    flow.on_reading(device(38.2, tick))
    assert flow.phase is Phase.RESULT and flow.result.escalate and flow.result.auto_close_s is None
    assert [e[2:5] for e in events(loaded_store)] == [("remeasure", "fever_remeasure", 0),
                                                       ("deny", "fever", 1)]


def test_expired_pass_is_measured_all_the_same_then_refused(flow, tick, loaded_store):
    flow.present("R0004", "scanner")
    assert flow.phase is Phase.MEASURING and flow.papers == "expired"
    tick.advance(0.1)
    flow.on_reading(device(36.5, tick))
    assert flow.phase is Phase.RESULT and flow.result.reason == "expired"
    assert flow.result.auto_close_s and not flow.result.allowed
    assert [e[2:5] for e in events(loaded_store)] == [("deny", "expired", 0)]
    with loaded_store.engine.connect() as conn:
        assert conn.exec_driver_sql("select used_c from readings").all() == [(36.5,)]


def test_expired_pass_with_a_fever_is_refused_and_escalated(flow, tick, loaded_store):
    flow.present("R0004", "scanner")
    tick.advance(0.1)
    flow.on_reading(device(38.5, tick))
    assert flow.phase is Phase.COUNTDOWN  # the re-measure that can confirm the fever
    tick.advance(5.1)
    flow.tick()
    tick.advance(0.1)
    flow.on_reading(device(38.6, tick))
    r = flow.result
    assert r.reason == "expired" and r.escalate and r.findings == ("expired", "fever")
    assert r.auto_close_s is None  # an escalation stays until acknowledged
    assert [e[2:5] for e in events(loaded_store)] == [("remeasure", "fever_remeasure", 0),
                                                       ("deny", "expired", 1)]


def test_a_refused_person_who_walks_away_is_still_recorded_as_refused(flow, loaded_store):
    flow.present("R0004", "scanner")
    flow.cancel()
    assert flow.phase is Phase.IDLE
    flow.present("R0003", "scanner")  # in order: walks away, nothing happened
    flow.present("R0004", "scanner")  # the next card while measuring: R0003 leaves no row
    flow.present("R0001", "scanner")  # ...but the expired R0004 does
    assert [e[:4] for e in events(loaded_store)] == [
        ("R0004", "out", "deny", "expired"), ("R0004", "out", "deny", "expired")]


def test_a_tap_while_measuring_rechecks_the_papers_for_that_direction(flow, tick,
                                                                    loaded_store):
    flow.set_direction(Direction.OUT)
    flow.present("R0001", "scanner")
    tick.advance(0.1)
    flow.on_reading(device(36.5, tick))  # the household's outing
    flow.dismiss()
    flow.set_direction(Direction.OUT)
    flow.present("R0002", "scanner")  # same household: no outing left
    assert flow.papers == "quota_used"
    flow.set_direction(Direction.IN)  # no: coming in
    assert flow.papers is None
    tick.advance(0.1)
    flow.on_reading(device(36.5, tick))
    assert flow.result.allowed and flow.result.direction is Direction.IN


def test_a_tap_on_in_wins_over_the_suggestion_for_the_next_person(flow, tick, loaded_store):
    """R0003 has no history (suggested OUT); the thermometer reads at once: still IN, and
    the household's outing is not spent."""
    flow.set_direction(Direction.IN)
    flow.present("R0003", "scanner")
    assert flow.direction is Direction.IN
    tick.advance(0.1)
    flow.on_reading(device(36.5, tick))
    assert flow.result.direction is Direction.IN and flow.result.allowed
    with loaded_store.engine.connect() as conn:
        row = conn.exec_driver_sql(
            "select direction, counts_against_quota from gate_events").one()
    assert tuple(row) == ("in", 0)
    flow.dismiss()
    assert flow.direction is None  # the choice was for that person: the next is suggested
    flow.present("R0002", "scanner")
    assert flow.direction is Direction.OUT


def test_garbage_and_unknown_scans(flow, tick, loaded_store):
    for garbage in ("\x00\x01garbage", "%%%%zz##", "http://example.com/x"):
        flow.present(garbage, "scanner")
        assert flow.phase is Phase.IDLE and flow.message[0] == "scan_garbage"
    flow.present("KP1.K1.R0003.R.20200101.20991231.AAAA", "scanner")  # forged/malformed
    assert flow.phase is Phase.MEASURING  # whoever stands there is measured
    tick.advance(0.1)
    flow.on_reading(device(36.6, tick))
    assert flow.phase is Phase.RESULT and flow.result.reason in ("forged", "unknown_pass")
    assert len(events(loaded_store)) == 1


def test_manual_entry_when_the_thermometer_is_down_and_double_confirm(gate, tick, loaded_store):
    runner = ManualRunner()
    flow = GateFlow(gate, runner, clock=tick)
    flow.set_thermometer_state(ReaderState.UNPLUGGED)
    flow.present("R0003", "search")
    runner.run_all()
    assert flow.manual_mode and flow.message[0] == "thermo_down_manual"
    for k in "3365":
        flow.manual_key(k)
        tick.advance(0.01)  # a doubled touch arrives within milliseconds
    assert flow.manual_text == "365"
    tick.advance(1)
    flow.manual_confirm()
    tick.advance(1)
    flow.manual_confirm()  # second tap while the first is being recorded
    assert flow.phase is Phase.RECORDING and runner.run_all() == 1
    assert flow.phase is Phase.RESULT
    with loaded_store.engine.connect() as conn:
        src = conn.exec_driver_sql("select source, used_c from readings").all()
    assert src == [("manual", 36.5)]


def test_a_thermometer_judged_down_does_not_talk_over_type_the_reading(flow, tick):
    flow.set_thermometer_state(ReaderState.WRONG_PROTOCOL)
    flow.present("R0003", "scanner")
    tick.advance(0.1)
    flow.on_reading(make_reading(None, taken_monotonic=tick()))  # its garbage: no target
    assert flow.phase is Phase.MEASURING and flow.message[0] == "thermo_down_manual"


def test_typos_on_the_temperature_pad_are_refused(flow, tick):
    assert parse_manual("365") == 36.5 and parse_manual("36.5") == 36.5
    assert parse_manual("3") is None and parse_manual("99.9") is None
    flow.set_thermometer_state(ReaderState.UNPLUGGED)
    flow.present("R0003", "search")
    flow.manual_key("9")
    tick.advance(1)
    flow.manual_confirm()
    assert flow.phase is Phase.MEASURING and flow.message[0] == "temp_format"


def test_visitor_goes_through_the_same_temperature_step(flow, tick, loaded_store):
    form = VisitorForm()
    assert form.visitor() is None and form.message[0] == "v_need_name"
    form.name, form.phone, form.reason, form.host_building = "顾客人", "13912345678", "探访", "3"
    v = form.visitor()
    assert v == Visitor("顾客人", "13912345678", "探访", "3")
    assert flow.start_visitor(v, Direction.IN)
    tick.advance(0.1)
    flow.on_reading(device(36.6, tick))
    assert flow.result.allowed and flow.result.person.name_masked == "顾*人"
    assert events(loaded_store)[0][5] == "顾客人"


def tap(form: VisitorForm, tick: Tick, *keys: str) -> None:
    """On-screen keys as a volunteer taps them: a deliberate pace, past the pad guard."""
    for key in keys:
        tick.advance(0.4)
        form.key(key)


def test_visitor_name_from_the_surname_grid_with_a_title(tick):
    form = VisitorForm(clock=tick)
    assert form.pad() == "surnames" and len(set(SURNAMES)) == len(SURNAMES) >= 60
    pages = []
    for _ in range(form.pages):
        pages.extend(form.page_surnames())
        tap(form, tick, MORE)
    assert tuple(pages) == SURNAMES and form.page == 0  # every surname on one page, wraps
    assert len(form.page_surnames()) == SURNAMES_PER_PAGE
    tap(form, tick, "先生")  # no surname yet
    assert form.name == "" and form.message[0] == "v_need_surname"
    tap(form, tick, "王")
    assert form.visitor() is None and form.message[0] == "v_need_title"
    tap(form, tick, "先生")
    assert form.name == "王先生" and form.message is None
    assert form.field == "phone"  # the name is done: on to the phone by itself
    form.select("name")
    tap(form, tick, "女士")  # a wrong tap is corrected in place, not appended
    form.select("name")
    tap(form, tick, "李")
    assert form.name == "李女士"
    tick.advance(0.01)
    form.key("张")
    form.key("张")  # one touch delivered twice: harmless
    assert form.name == "张女士"
    tap(form, tick, BACK, BACK)
    assert form.name == "张"


def test_visitor_form_moves_on_by_itself_and_recalls_a_courier(tick, flow, loaded_store):
    """Where a field's end is certain the next one opens; a courier who came before is one
    tap; the screens show the title whole (王女士, not 王*士) and the building as a
    building."""
    from kiosk.ui.i18n import place_text
    from kiosk.ui.vm.queries import recent_visitors
    from kiosk.ui.vm.visitor import TO_RECENT, shown_name

    form = VisitorForm(clock=tick)
    form.set_buildings(["3", "12", "13", "1"])
    form.reason_words = {"快递外卖": "r_delivery"}
    tap(form, tick, "王", "女士")
    assert form.field == "phone"
    tap(form, tick, *"1391234567")
    assert form.field == "phone"  # 10 digits: not a number yet
    tap(form, tick, "8")
    assert form.field == "building"
    tap(form, tick, "1")
    assert form.field == "building"  # 1, 12 or 13: wait
    tap(form, tick, "2")
    assert form.field == "reason"  # no building starts with 12 but 12
    form.pick_reason("r_delivery", "快递外卖")
    assert form.field == "reason" and form.problem() is None  # all filled: Next is next
    assert form.visitor() == Visitor("王女士", "13912345678", "快递外卖", "12")
    assert shown_name("王女士") == "王女士" and shown_name("欧阳娜娜") == "欧**娜"
    assert place_text("12", "visitor", "zh") == "12号楼"
    assert place_text("12", "visitor", "en") == "Building 12"
    assert place_text("3-1-402", "resident", "en") == "3-1-402"

    # recorded, then recalled: the newest first, once each
    assert recent_visitors(loaded_store.engine) == []
    for v in (form.visitor(), Visitor("LI MING", "", "探访", "3"), form.visitor()):
        assert flow.start_visitor(v, Direction.IN)
        assert flow.person.name_masked == shown_name(v.name)
        tick.advance(0.1)
        flow.on_reading(device(36.6, tick))
        flow.dismiss()
    recent = recent_visitors(loaded_store.engine)
    assert recent == [Visitor("王女士", "13912345678", "快递外卖"), Visitor("LI MING", "", "探访")]
    form.clear()
    form.set_recent(recent)
    tap(form, tick, TO_RECENT)
    assert form.pad() == "recent"
    tick.advance(0.4)
    form.pick_recent(0)
    assert (form.name, form.phone, form.reason, form.reason_key) == (
        "王女士", "13912345678", "快递外卖", "r_delivery")
    assert form.field == "building" and form.pad() == "digits"


def test_visitor_pad_ignores_a_doubled_touch_after_it_changed(tick):
    form = VisitorForm(clock=tick)
    tap(form, tick, MORE)
    second_page = form.page_surnames()
    tick.advance(0.01)
    form.key(second_page[0])  # the copy of the touch on MORE lands on the new page
    assert form.page == 1 and form.name == ""
    tap(form, tick, second_page[0])
    assert form.name == second_page[0]


def test_visitor_pinyin_keyboard_digit_pad_and_a_usb_keyboard(tick):
    form = VisitorForm(clock=tick)
    tap(form, tick, TO_LETTERS)
    assert form.pad() == "letters"
    tap(form, tick, "C", CLEAR, "L", "I", SPACE, "M", "I", "N", "N", BACK)
    assert form.name == "LI MIN"  # "C" is a letter; CLEAR is its own key
    form.type_text("G")  # a USB keyboard types into the same field, not debounced
    assert form.name == "LI MING"
    form.next_field()  # Tab
    assert form.field == "phone" and form.pad() == "digits"
    form.type_text("139-1234 5678x99")
    assert form.phone == "13912345678"  # digits only, 11 at most
    form.backspace()
    tap(form, tick, "8")
    form.select("building")
    tap(form, tick, "0", "3")
    form.select("reason")
    assert form.pad() == "reasons"
    form.pick_reason("r_repair", "维修")
    form.select("name")
    tap(form, tick, TO_SURNAMES)
    assert form.pad() == "surnames"
    assert form.visitor() == Visitor("LI MING", "13912345678", "维修", "3")


def test_visitor_phone_and_building_are_checked(tick, loaded_store):
    form = VisitorForm(clock=tick)
    form.set_buildings(buildings(loaded_store.engine))
    assert form.known_buildings == {"3", "5", "7"}
    form.name = "王女士"
    form.pick_reason("r_delivery", "快递外卖")
    assert form.visitor() is None and form.message[0] == "v_need_phone"
    assert form.field == "phone"  # the pad of what is wrong is under the volunteer's hand
    for bad in ("1391234567", "23912345678", "139123456789"):
        form.phone = bad
        assert form.visitor() is None and form.message[0] == "v_bad_phone", bad
    form.phone, form.host_building = "13912345678", "9"
    assert form.visitor() is None and form.message == ("v_bad_building", {"building": "9"})
    assert form.field == "building"
    form.host_building = "07"
    assert form.visitor() == Visitor("王女士", "13912345678", "快递外卖", "7")
    form.pick_reason("r_visit", "探访")
    form.phone = ""  # a visitor is met by the resident: no phone needed
    assert form.visitor() is not None
    form.set_buildings([])  # a roster without buildings: nothing to check against
    form.host_building = "99"
    assert form.visitor() is not None


def test_camera_states_have_words_in_both_languages():
    shown = {s: camera_status(CameraState(s)) for s in ("connected", "lost", "stopped", "off")}
    assert shown == {"connected": ("cam_connected", True), "lost": ("cam_lost", False),
                     "stopped": ("cam_starting", False), "off": ("cam_off", False)}
    assert CAMERA_OFF is CameraState.OFF
    for key, _ok in shown.values():
        assert key in CATALOGUE


def test_admin_save_writes_and_restarts_devices_in_the_worker(data_dir, settings):
    from kiosk import settings as settings_mod
    from kiosk.ui.vm.admin import AdminModel

    runner, applied, saved = ManualRunner(), [], []
    m = AdminModel(data_dir, settings, runner, saved.append, applied.append)
    m.set("screening.fever_threshold_c", "37.5")
    assert m.save() and m.message[0] == "a_saving"
    assert not m.save()  # a doubled tap on Save while saving
    assert applied == saved == [] and len(runner.pending) == 1  # nothing done on the UI thread
    assert settings_mod.load(data_dir).screening.fever_threshold_c == 37.3
    runner.run_all()
    assert m.message[0] == "a_saved" and not m.saving
    assert [s.screening.fever_threshold_c for s in applied + saved] == [37.5, 37.5]
    assert settings_mod.load(data_dir).screening.fever_threshold_c == 37.5
    m.set("screening.fever_threshold_c", "hot")
    assert not m.save() and not runner.pending
    # said in the catalogue's words: the field's label and its rule, never SettingsError's
    assert m.message == ("a_invalid", {"field": "a_threshold", "rule": "a_rule_threshold",
                                       "value": "hot"}) and m.error

    def broken(_s: object) -> None:
        raise OSError("camera busy")

    m = AdminModel(data_dir, settings_mod.load(data_dir), InlineRunner(), saved.append, broken)
    m.set("quota.days", "3")
    assert m.save() and m.message == ("a_saved_device_failed", {}) and m.error
    assert settings_mod.load(data_dir).quota.days == 3 and saved[-1].quota.days == 3


def test_the_team_leaders_phone_is_set_on_the_number_pad(data_dir, settings, tick):
    """The leader on duty changes with the roster: the phone the fever screen shows is set on
    the admin screen's number pad, and a number too long for it is refused in words."""
    from kiosk import settings as settings_mod
    from kiosk.ui.vm import admin as av
    from kiosk.ui.vm.admin import AdminModel

    m = AdminModel(data_dir, settings, InlineRunner(), lambda _s: None)
    m.debounce = av.Debouncer(clock=tick)
    m.edit("fever.leader_phone")
    assert m.pad == "number"
    for key in ("CLR", *"13900139000", "OK"):
        tick.advance(0.2)  # keys a finger apart
        m.key(key)
    assert m.save()
    assert settings_mod.load(data_dir).fever.leader_phone == "13900139000"
    m.set("fever.leader_phone", "1" * 41)
    assert not m.save() and m.message[0] == "a_invalid"
    assert m.message[1]["field"] == "a_leader_phone"
    assert settings_mod.load(data_dir).fever.leader_phone == "13900139000"


def test_admin_pads_edit_the_field_tapped_and_exit_is_asked_first(data_dir, settings, tick):
    """A touchscreen alone: a number pad for numbers, a keyboard for text, chips for a
    choice; a doubled touch types once; 退出程序 only asks."""
    from drivers.registry import PROTOCOLS
    from kiosk.ui.vm import admin as av

    assert av.PROTOCOLS == PROTOCOLS  # the chips are the drivers' protocols
    m = av.AdminModel(data_dir, settings, InlineRunner(), lambda _s: None)
    m.debounce = av.Debouncer(clock=tick)
    m.edit("quota.days")
    assert m.pad == "number"
    for key in ("CLR", "1", "4", "4"):  # the second "4": the same touch delivered twice
        m.key(key)
    tick.advance(0.1)
    m.key("4")  # a fast human double tap counts
    assert m.values["quota.days"] == "144"
    m.key("OK")
    assert m.editing is None and m.pad == "form"
    m.edit("thermometer.port")
    assert m.pad == "letters"
    for key in ("CLR", "/", "d", "e", "v", "/", "t", "t", "y", "⇧", "u", "s", "b", "⇧",
                "123", "0", "OK"):
        tick.advance(0.2)  # keys a finger apart
        m.key(key)
    assert m.values["thermometer.port"] == "/dev/ttyUSB0"
    m.edit("checkpoint.name")
    m.type_text("北门")  # a USB keyboard's input method: Chinese names too
    assert m.values["checkpoint.name"].endswith("北门")
    m.edit("ui.language")
    assert m.pad == "choice"
    m.choose("fr")  # not a chip: ignored
    m.choose("en")
    assert m.values["ui.language"] == "en" and m.editing is None
    m.ask_exit()
    assert m.exit_asked
    m.keep_running()
    assert not m.exit_asked


def test_admin_probe_says_what_it_found_or_why_not(data_dir, settings):
    from types import SimpleNamespace

    from kiosk.ui.vm.admin import AdminModel

    def port_locked(_port: str) -> None:
        raise OSError("Could not exclusively lock port /dev/ttyUSB0")

    m = AdminModel(data_dir, settings, InlineRunner(), lambda _s: None, probe=port_locked)
    m.set("thermometer.port", "")
    m.probe()
    assert m.message == ("a_probe_no_port", {}) and m.error
    m.set("thermometer.port", "/dev/ttyUSB0")
    m.probe()
    assert m.message == ("a_probe_failed", {"port": "/dev/ttyUSB0"})  # no raw English
    m.probe_port = lambda _port: SimpleNamespace(protocol="aa55", baud=115200)
    m.probe()
    assert m.message == ("a_probe_found", {"protocol": "aa55", "baud": 115200})
    assert (m.values["thermometer.protocol"], m.values["thermometer.baud"]) == ("aa55", "115200")


def test_who_is_out_and_the_handover(flow, tick, loaded_store):
    start = utc_now() - timedelta(seconds=1)
    for number in ("R0003", "W0001"):
        flow.set_direction(Direction.OUT)
        flow.present(number, "scanner")
        tick.advance(0.1)
        flow.on_reading(device(36.5, tick))
        flow.dismiss()
    flow.present("W0001", "scanner")  # comes back: suggested direction is IN
    assert flow.direction is Direction.IN
    tick.advance(0.1)
    flow.on_reading(device(36.5, tick))
    out = who_is_out(loaded_store.engine)
    assert [p.pass_number for p in out] == ["R0003"] and out[0].place == "3-2-101"
    h = handover(loaded_store.engine, start)
    assert (h.went_out, h.went_in, h.denied, len(h.still_out)) == (2, 1, 0, 1)


def test_one_way_gate_keeps_its_direction(gate, tick):
    gate.settings.checkpoint.direction_mode = "in"
    flow = GateFlow(gate, InlineRunner(), clock=tick)
    flow.set_direction(Direction.OUT)
    assert flow.direction is Direction.IN and flow.message[0] == "one_way"
    assert gate.direction_mode is DirectionMode.IN


def test_pin_sign_in_with_lockout_and_doubled_digits(loaded_store, tick):
    engine = loaded_store.engine
    add_volunteer(engine, "李静", "2468135")
    add_volunteer(engine, "余融豪", "1357924", Role.ADMIN)
    m = SignInModel(engine, InlineRunner(), "gate-1", clock=tick)
    m.load()
    assert m.names == ["余融豪", "李静"] and m.admins == ["余融豪"]
    m.select("李静")
    for k in "2468135":
        m.key(k)
        m.key(k)  # the same touch delivered twice
        tick.advance(0.3)
    assert m.pin == "2468135"
    m.submit()
    assert m.duty is not None and m.duty.volunteer.name == "李静"
    m.sign_out()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select ended_at is not null from shifts").scalar() == 1
    m.set_mode(Role.ADMIN)
    for k in "1357924":
        m.key(k)
        tick.advance(0.3)
    m.submit()
    assert m.admin_ok


def test_a_fast_double_tap_counts_twice_a_duplicated_touch_once(loaded_store, tick):
    """"5511007" typed fast: each second 5, 1 and 0 comes 80-120 ms after the first and is a
    real tap; a copy of one touch a few ms later is not."""
    engine = loaded_store.engine
    add_volunteer(engine, "李静", "5511007")
    m = SignInModel(engine, InlineRunner(), "gate-1", clock=tick)
    m.load()
    m.select("李静")
    for k, gap in (("5", 0.09), ("5", 0.3), ("1", 0.08), ("1", 0.12), ("0", 0.1), ("0", 0.3),
                   ("7", 0.3)):
        m.key(k)
        tick.advance(0.004)
        m.key(k)  # the same touch from the second input provider
        tick.advance(gap)
    assert m.pin == "5511007"
    m.submit()
    assert m.duty is not None
    with engine.connect() as conn:  # a shift started, no failed attempt counted
        assert conn.exec_driver_sql("select count(*) from shifts").scalar() == 1
        assert conn.exec_driver_sql(
            "select failed_attempts from volunteers where name = '李静'").scalar() == 0


def test_wrong_pins_lock_the_name_for_a_while(loaded_store, tick):
    engine = loaded_store.engine
    add_volunteer(engine, "洪远方", "5182736")
    now = utc_now()
    for _i in range(MAX_FAILED_ATTEMPTS):
        r = sign_in(engine, "洪远方", "7301649", now)
        assert r.volunteer is None
    assert r.locked_until is not None
    assert sign_in(engine, "洪远方", "5182736", now).volunteer is None  # locked: even the right PIN
    # the pad says so, and that the next volunteer is not locked out with them
    m = SignInModel(engine, InlineRunner(), "gate-1", clock=tick)
    m.load()
    m.select("洪远方")
    for k in "5182736":
        m.key(k)
        tick.advance(0.3)
    m.submit()
    assert m.message is not None and m.message[0] == "pin_locked" and m.duty is None
    assert "其他志愿者仍可登录" in tr(m.message[0], "zh", **m.message[1])
    assert "another volunteer can still sign in" in tr(m.message[0], "en", **m.message[1])
    later = now + timedelta(seconds=LOCKOUT_S + 1)
    assert sign_in(engine, "洪远方", "5182736", later).volunteer is not None
    assert sign_in(engine, "洪远方", "7301649", later).attempts_left == MAX_FAILED_ATTEMPTS - 1


def test_view_models_and_services_import_no_kivy():
    import subprocess
    import sys

    code = ("import sys, kiosk.ui.vm.flow, kiosk.ui.vm.signin, kiosk.ui.vm.admin, "
            "kiosk.ui.vm.visitor, kiosk.ui.vm.queries, kiosk.ui.vm.status, kiosk.ui.services, "
            "kiosk.ui.i18n, kiosk.ui.app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kivy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def fever(flow: GateFlow, tick: Tick, number: str = "R0004") -> None:
    """A confirmed fever at the gate: 38.5 °C, the countdown, 38.6 °C."""
    flow.present(number, "scanner")
    tick.advance(0.1)
    flow.on_reading(device(38.5, tick))
    tick.advance(5.1)
    flow.tick()
    tick.advance(0.1)
    flow.on_reading(device(38.6, tick))


def test_a_fever_stays_until_acknowledged_and_the_acknowledgement_is_recorded(
        flow, tick, loaded_store):
    fever(flow, tick)
    r = flow.result
    assert r.escalate and r.readings_c == (38.5, 38.6)  # both readings, for the screen
    flow.dismiss()  # a tap on the screen...
    flow.present("R0003", "scanner")  # ...or the next card does not sweep it away
    assert flow.phase is Phase.RESULT and flow.message[0] == "fever_ack_first"
    flow.volunteer_id = None
    flow.acknowledge("王组长 13800138000")
    assert flow.phase is Phase.IDLE and flow.message[0] == "acknowledged"
    with loaded_store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select id, outcome, reason, escalated, identified_by, corrects_event_id, note, "
            "pass_number, wall_utc from gate_events order by seq").all()
    fever_row, ack = rows[-2], rows[-1]
    assert fever_row[1:4] == ("deny", "expired", 1)
    # a new event names the fever (append-only: the fever's row is as it was); who was
    # called in its note, when in its time; it is no movement and names no person
    assert ack[1:7] == ("notified", "leader_notified", 0, "acknowledgement", fever_row[0],
                        "王组长 13800138000")
    assert ack[7] is None and ack[8] >= fever_row[8]
    flow.acknowledge("again")  # nothing on screen: nothing more recorded
    with pytest.raises(Exception, match="already acknowledged"):
        flow.gate.acknowledge(fever_row[0], "again")
    with pytest.raises(Exception, match="not a confirmed fever"):
        flow.gate.acknowledge(rows[0][0], "x")
    assert len(events(loaded_store)) == len(rows)


def test_a_delivery_from_the_gate_key_finishes_by_itself_in_12_taps(tick):
    """Taps per task: a mobile number is 10 taps after the 1 every one starts with (a 1
    tapped again by habit is dropped) and the lone 1 is no phone; a delivery opens on the
    phone and a courier who gives no surname is recorded as 快递员 (the mobile number is
    what a tracer calls); the field that fills the last gap of a full, right form finishes
    it (no Next), a correction afterwards does not."""
    from kiosk.ui.vm.visitor import COURIER_NAME, recent_label, shown_name

    form = VisitorForm(clock=tick)
    form.set_buildings(["3", "5"])
    tap(form, tick, "王")
    tap(form, tick, "女士")
    assert form.field == "phone" and form.phone == "1"
    for digit in "13800001111":  # the habit: the whole number
        tap(form, tick, digit)
    assert form.phone == "13800001111" and form.field == "building"
    form.select("phone")
    tap(form, tick, "CLR")
    form.select("building")
    tap(form, tick, "3")
    form.pick_reason("r_visit", "探访")
    assert not form.finished  # a visit may leave a phone: not given, so Next
    form.select("phone")
    assert form.phone == "1"
    visitor = form.visitor()
    assert visitor is not None and visitor.phone == ""  # the lone 1 is no phone

    form.clear()
    form.open_for("r_delivery", "快递外卖")  # 快递外卖 on the gate screen (1 tap)
    assert (form.field, form.pad(), form.phone) == ("phone", "digits", "1")
    assert form.hint() == "v_hint_courier_phone" and form.courier_unnamed
    taps = 1
    for key in "3800001111":
        tap(form, tick, key)
        taps += 1
    assert form.name == "" and form.phone == "13800001111" and form.field == "building"
    assert not form.finished
    tap(form, tick, "3")  # the last gap: finished
    assert form.finished and taps + 1 == 12
    assert form.visitor() == Visitor(COURIER_NAME, "13800001111", "快递外卖", "3")
    assert COURIER_NAME == "快递员" == tr("v_courier", "zh") and tr("v_courier", "en") == "Courier"
    assert shown_name(COURIER_NAME) == "快递员"  # names nobody: not masked to 快*员
    assert recent_label(Visitor(COURIER_NAME, "13800001111", "快递外卖"), "Courier") == \
        "Courier  138****1111  快递外卖"  # couriers differ by the phone tail
    form.finished = False
    form.select("name")
    assert form.hint() == "v_hint_courier"
    tap(form, tick, "王")  # a surname given after all: 王师傅, a correction: Next is next
    assert form.name == "王师傅" and not form.finished
    assert form.visitor() == Visitor("王师傅", "13800001111", "快递外卖", "3")
    form.select("name")
    tap(form, tick, "←", "←", "←")  # no name again: the courier word
    assert form.name == "" and form.visitor() == Visitor(COURIER_NAME, "13800001111",
                                                         "快递外卖", "3")
    form.pick_reason("r_visit", "探访")  # a visitor is no courier: a name is needed
    assert form.visitor() is None and form.message == ("v_need_name", {})

    form.clear()  # 访客登记, the reason box, the delivery chip: on to the phone, not the name
    form.select("reason")
    form.pick_reason("r_groceries", "送菜送药")
    assert form.field == "phone" and form.name == ""
    tap(form, tick, *"3800001111", "5")
    assert form.finished and 3 + 10 + 1 == 14
    assert form.visitor() == Visitor(COURIER_NAME, "13800001111", "送菜送药", "5")


def test_a_team_that_asks_the_couriers_surname_gets_it_in_13_taps(tick):
    """``checkpoint.courier_surname = "ask"``: the form opens on the name, the surname makes
    it (王师傅) and goes on to the phone; no name is refused."""
    form = VisitorForm(clock=tick)
    form.set_buildings(["3", "5"])
    form.ask_courier_surname = True
    form.open_for("r_delivery", "快递外卖")  # 1 tap
    assert form.field == "name" and form.pad() == "surnames"
    assert form.hint() == "v_hint_courier" and not form.courier_unnamed
    taps = 1
    for key in ("王", *"3800001111"):
        tap(form, tick, key)
        taps += 1
    assert form.name == "王师傅" and form.phone == "13800001111" and form.field == "building"
    assert not form.finished
    tap(form, tick, "3")  # the last gap: finished
    assert form.finished and taps + 1 == 13
    form.finished = False
    form.select("name")
    tap(form, tick, "先生")  # a correction of a full form: in place, and Next is next
    assert form.name == "王先生" and not form.finished
    form.phone = "1390000"  # wrong: never finishes, the volunteer sees why on Next
    form.select("building")
    tap(form, tick, "CLR")
    tap(form, tick, "5")
    assert not form.finished
    form.name = ""
    assert form.visitor() is None and form.message == ("v_need_name", {})
