"""Whole flows through the real app under Xvfb: touches on the real widgets, scans through
the window's key events, QR images through the camera reader, a thermometer on a pty.
Each flow checks the database afterwards and saves screenshots."""

from __future__ import annotations

from ui_testkit import (  # noqa: F401 - fixtures
    VOLUNTEER,
    kiosk,
    passes,
    sim,
    wait_until,
    xvfb,
)

from kiosk import settings as settings_mod

#: the 7-inch Pi panel is about 154 mm wide for 800 px: 15 mm is about 78 px
PX_PER_MM_PI = 800 / 154


def test_qr_pass_holder_with_normal_temperature_goes_out(kiosk, passes, sim, tmp_path):  # noqa: F811
    app = kiosk()
    app.screenshot("signin_800x480")
    app.sign_in()
    app.screenshot("gate_idle_800x480")
    app.tap("dir_out", times=2)  # a doubled touch on the toggle: still OUT
    assert app.state()["camera"] == ""  # camera.index = -1: not configured, not shown
    payload = passes.payload("R0003")
    png = passes.png(payload, tmp_path / "pass.png")
    assert app.cmd("camera", paths=[str(png), str(png), str(png)])["ok"]
    app.wait_screen("result")
    assert app.state()["camera"] == "摄像头正常"
    flow = app.flow()
    assert flow["result"]["outcome"] == "allow" and flow["result"]["name"] == "王*"
    app.screenshot("result_pass_800x480")
    rows = app.db("select pass_number, direction, outcome, identified_by, volunteer_id "
                  "from gate_events")
    assert rows == [("R0003", "out", "allow", "qr", 1)]
    (reading,) = app.db("select source, used_c, protocol from readings")
    assert reading[0] == "device" and abs(reading[1] - 36.5) < 0.05
    app.tap("result_word")  # a tap closes the result
    app.wait_screen("gate")
    assert len(app.db("select id from gate_events")) == 1  # the camera saw it 3 times: once


def test_fever_is_remeasured_and_escalated_even_behind_an_expired_pass(kiosk, sim):  # noqa: F811
    app = kiosk()
    app.sign_in()
    sim.set_temperature(38.0)
    app.scan("R0001")  # a USB scanner: the number typed at scanner speed, then Enter
    app.wait_phase("countdown")
    app.screenshot("gate_fever_countdown_800x480")
    sim.set_temperature(38.3)
    app.wait_screen("result")
    result = app.flow()["result"]
    assert result["reason"] == "fever" and result["escalate"]
    # its own screen: call the leader once (with the phone), both readings, the next step
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    assert shown["result_word"] == "发热 · 禁止通行"
    assert shown["result_reason"] == "请立即联系组长：王组长 13800138000"
    assert " ".join(shown.values()).count("联系组长") == 1
    assert shown["result_readings"] == "两次体温 38.0 °C，复测 38.3 °C"
    assert "3号楼东侧帐篷" in shown["result_next"]
    app.screenshot("result_fever_escalated_800x480")
    app.tap("result_word")  # an escalation does not close on a stray tap...
    app.scan("R0003")  # ...nor on the next card (it says why)
    wait_until(lambda: app.flow()["message"] == "fever_ack_first", what="fever first")
    assert app.state()["screen"] == "result"
    app.tap("acknowledge")  # ...only when the team leader was called, which is recorded
    app.wait_screen("gate")
    events = app.db("select outcome, reason, escalated, identified_by, volunteer_id, note "
                    "from gate_events order by seq")
    assert events == [("remeasure", "fever_remeasure", 0, "scanner", 1, ""),
                      ("deny", "fever", 1, "scanner", 1, ""),
                      ("notified", "leader_notified", 0, "acknowledgement", 1,
                       "王组长 13800138000")]
    (linked,) = app.db("select a.corrects_event_id = f.id, a.wall_utc >= f.wall_utc "
                       "from gate_events a join gate_events f on f.seq = 2 where a.seq = 3")
    assert linked == (1, 1)  # it names the fever, and comes after it
    # the status bar: the fever is called in, the command has not taken it over yet
    wait_until(lambda: app.state()["fever"] == "发热 1：待跟进", what="fever in the status bar")
    readings = app.db("select r.ordinal, r.used_c >= 37.3 from readings r join gate_events e "
                      "on e.id = r.event_id where e.outcome = 'deny' order by r.ordinal")
    assert readings == [(1, 1), (2, 1)]  # the escalation keeps both readings
    # a fever behind an expired pass: the escalation first, the papers' reason next to it
    sim.set_temperature(38.4)
    app.scan("R0004")  # pass expired: measured all the same
    app.wait_phase("countdown")
    sim.set_temperature(38.5)
    app.wait_screen("result")
    result = app.flow()["result"]
    assert result["findings"] == ["expired", "fever"] and result["escalate"]
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    assert shown["result_reason"] == "请立即联系组长：王组长 13800138000"  # to act on first
    assert "通行证已过期" in shown["result_reason_other"]
    assert shown["result_detail"].startswith("有效期：")  # the pass's dates, on the screen
    app.screenshot("result_fever_expired_800x480")
    app.tap("acknowledge")
    app.wait_screen("gate")
    assert app.db("select outcome, reason, escalated from gate_events order by seq")[3:] == [
        ("remeasure", "fever_remeasure", 0), ("deny", "expired", 1),
        ("notified", "leader_notified", 0)]


def test_expired_pass_and_forged_qr_are_measured_then_refused(kiosk, passes):  # noqa: F811
    """The temperature is taken from everyone, papers in order or not (the thermometer here
    reads continuously, so the refusal follows at once)."""
    app = kiosk()
    app.sign_in()
    app.scan("R0004")
    app.wait_screen("result")
    assert app.flow()["result"]["reason"] == "expired"
    app.screenshot("result_expired_800x480")
    app.tap("result_word")
    app.wait_screen("gate")
    genuine = passes.payload("R0003")
    forged = genuine.replace(".R0003.", ".R0002.")  # someone edited the number
    app.scan(forged)
    app.wait_screen("result")
    assert app.flow()["result"]["reason"] == "forged"
    app.tap("result_word")
    app.wait_screen("gate")
    app.scan("%%?garbage?%%")  # scanner garbage: a message, nothing recorded
    wait_until(lambda: app.flow()["message"] == "scan_garbage", what="garbage message")
    rows = app.db("select pass_number, outcome, reason from gate_events order by seq")
    assert rows == [("R0004", "deny", "expired"), ("R0002", "deny", "forged")]
    assert app.db("select count(*) from readings") == [(2,)]


def test_a_tap_on_in_is_the_direction_recorded_and_spends_no_outing(kiosk, sim):  # noqa: F811
    """R0001 has no history (the suggestion is OUT) and the thermometer reads continuously:
    the volunteer's tap on 进 is what is recorded, so R0002 of the same household may still
    go out. The direction is shown large while the person is measured."""
    app = kiosk()
    app.sign_in()
    app.tap("dir_in")
    app.scan("R0001")
    app.wait_screen("result")
    assert app.flow()["result"]["direction"] == "in"
    app.tap("result_word")
    app.wait_screen("gate")
    sim.unplug()  # the next one is typed: time to look at the measuring screen
    wait_until(lambda: app.flow()["thermometer"] == "unplugged", what="unplugged state")
    app.tap("dir_out")
    app.scan("R0002")
    app.wait_phase("measuring")
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    assert shown["measure_direction"] == "出"
    app.screenshot("gate_measuring_direction_800x480")
    for key in ("t_3", "t_6", "t_5", "t_OK"):
        app.tap(key)
    app.wait_screen("result")
    rows = app.db("select pass_number, direction, outcome, counts_against_quota "
                  "from gate_events order by seq")
    assert rows == [("R0001", "in", "allow", 0), ("R0002", "out", "allow", 1)]


def visitor_form(app) -> dict:  # noqa: ANN001
    return app.state()["visitor"]


def test_visitor_is_registered_with_the_same_temperature_step(kiosk):  # noqa: F811
    """Everything by touch, as on the Pi: surname grid, digit pad, reason chip."""
    app = kiosk()
    app.sign_in()
    app.tap("visitor")
    app.wait_screen("visitor")
    app.tap("v_next")  # no name yet: a message, nothing recorded
    assert visitor_form(app)["message"] == "v_need_name"
    app.tap("sn_王", times=2)  # a doubled touch on the grid
    app.tap("sn_女士")
    app.tap("f_reason")
    app.tap("r_delivery")
    app.tap("v_next")  # a delivery with no phone: the phone pad comes up
    form = wait_until(lambda: (f := visitor_form(app))["message"] == "v_need_phone" and f)
    assert form["pad"] == "digits" and form["field"] == "phone"
    for key in "13912345678":
        app.tap(f"np_{key}")
    app.tap("f_building")
    app.tap("np_9")
    app.tap("v_next")  # the roster has buildings 3, 5, 7
    wait_until(lambda: visitor_form(app)["message"] == "v_bad_building", what="no building 9")
    app.screenshot("visitor_form_800x480")
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    for tid, value in (("f_name", "王女士"), ("f_phone", "13912345678"), ("f_building", "9"),
                       ("f_reason", "快递外卖")):
        assert value in shown[tid], (tid, shown[tid])  # the boxes show what was entered
    app.tap("np_←")
    app.tap("np_3")  # the last gap filled, nothing wrong: on to the temperature
    app.wait_screen("result")
    assert app.flow()["result"]["outcome"] == "allow"
    rows = app.db("select visitor_name, visitor_phone, visitor_reason, host_building, "
                  "direction, pass_kind from gate_events")
    assert rows == [("王女士", "13912345678", "快递外卖", "3", "in", "visitor")]
    assert app.db("select source from readings") == [("device",)]


def test_a_delivery_in_12_taps_and_a_returning_courier_in_four(kiosk):  # noqa: F811
    """Taps per task (docs/BENCHMARKS_app.md): 快递外卖 on the gate screen opens the form
    on the phone (the mobile number identifies a courier), the phone is the 10 digits after
    the 1 it starts with, and the building that fills the last field goes on to the
    temperature (no Next); a courier who gave no surname is recorded as 快递员, one who
    gives it as 王师傅; the courier's next delivery is recalled in one tap, told apart by
    the phone tail, in the volunteer's language."""
    app = kiosk()
    app.sign_in()
    taps = 0

    def tap(*tids: str) -> None:
        nonlocal taps
        for tid in tids:
            app.tap(tid)
            taps += 1

    def shown() -> dict[str, str]:
        return {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}

    tap("delivery")
    app.wait_screen("visitor")
    form = visitor_form(app)
    assert (form["field"], form["pad"], form["phone"]) == ("phone", "digits", "1")
    assert "快递员" in shown()["f_name"]  # what will be recorded, unless a surname is given
    assert shown()["v_message"] == "输入快递员手机号，姓名可不填"
    app.screenshot("visitor_delivery_800x480")
    tap(*(f"np_{d}" for d in "3912345678"))  # on to the building by itself
    tap("np_3")  # the roster's buildings are 3, 5, 7: the last field, so on to the temperature
    app.wait_screen("result")  # (the thermometer reads at once: the measuring step is short)
    text = " ".join(shown().values())
    assert "快递员" in text and "3号楼" in text
    first = taps
    app.tap("result_word")
    app.wait_screen("gate")
    taps = 0
    tap("visitor")
    app.wait_screen("visitor")
    tap("sn_最近")
    wait_until(lambda: app.cmd("tap", tid="rc_0")["ok"], what="the courier recalled")
    taps += 1
    app.screenshot("visitor_recalled_800x480")
    tap("np_5")  # the only field left: on to the temperature
    app.wait_screen("result")
    print(f"taps: first delivery {first}, returning courier {taps}")
    assert (first, taps) == (12, 4)  # docs/BENCHMARKS_app.md, taps per task
    app.tap("result_word")
    app.wait_screen("gate")

    # the surname given after all: a tap on the name box, then 王 (王师傅, on to the phone)
    app.tap("delivery")
    app.wait_screen("visitor")
    app.tap("f_name")
    wait_until(lambda: visitor_form(app)["pad"] == "surnames", what="the surnames")
    assert shown()["v_message"] == "点快递员的姓，记为「王师傅」"
    app.tap("sn_王")
    wait_until(lambda: visitor_form(app)["field"] == "phone", what="on to the phone")
    for d in "3687654321":  # (no digit twice in a row: the hook taps faster than a finger)
        app.tap(f"np_{d}")
    app.tap("np_7")
    app.wait_screen("result")
    app.tap("result_word")
    app.wait_screen("gate")
    rows = app.db("select visitor_name, visitor_phone, visitor_reason, host_building, "
                  "direction, pass_kind from gate_events order by seq")
    assert rows == [("快递员", "13912345678", "快递外卖", "3", "in", "visitor"),
                    ("快递员", "13912345678", "快递外卖", "5", "in", "visitor"),
                    ("王师傅", "13687654321", "快递外卖", "7", "in", "visitor")]

    # in English the courier word is said in English; the rows differ by the phone tail
    app.tap("gate_language")
    wait_until(lambda: app.state()["lang"] == "en", what="English")
    app.tap("visitor")
    app.wait_screen("visitor")
    app.tap("sn_最近")
    wait_until(lambda: "rc_1" in shown(), what="the recent couriers")
    assert "王师傅" in shown()["rc_0"] and "136****4321" in shown()["rc_0"]
    assert "Courier" in shown()["rc_1"] and "139****5678" in shown()["rc_1"]
    app.tap("rc_1")
    wait_until(lambda: visitor_form(app)["field"] == "building", what="the courier recalled")
    assert "Courier" in shown()["f_name"]  # recorded as 快递员, said in English


def test_a_team_that_asks_the_couriers_surname_sets_it_on_the_admin_screen(
        kiosk, data_dir):  # noqa: F811
    """``checkpoint.courier_surname`` chosen on the admin screen (a chip, saved like the
    other settings): the delivery form opens on the surname again, 13 taps, 王师傅."""
    app = kiosk()
    app.open_admin()
    for _ in range(4):  # the setting's page
        if app.cmd("tap", tid="a_checkpoint.courier_surname")["ok"]:
            break
        app.tap("a_page")
    else:
        raise AssertionError("no courier_surname setting on the admin screen")
    message = next(w["text"] for w in app.cmd("widgets")["widgets"] if w["tid"] == "a_message")
    assert "快递员是否问姓" in message and "不问（记为快递员）" in message  # in words
    app.tap("ac_ask")
    app.tap("a_save")
    wait_until(lambda: app.state()["admin_message"] == "a_saved", what="saved")
    assert settings_mod.load(data_dir).checkpoint.courier_surname == "ask"
    app.tap("a_back")
    app.sign_in()
    taps = 0
    for tid in ("delivery", "sn_王", *(f"np_{d}" for d in "3912345678"), "np_3"):
        app.tap(tid)
        taps += 1
        if tid == "delivery":
            app.wait_screen("visitor")
            assert visitor_form(app)["pad"] == "surnames"  # the surname first
    app.wait_screen("result")
    assert taps == 13
    assert app.db("select visitor_name, visitor_phone, visitor_reason, host_building "
                  "from gate_events") == [("王师傅", "13912345678", "快递外卖", "3")]


def test_visitor_name_on_the_pinyin_keyboard_and_a_usb_keyboard(kiosk):  # noqa: F811
    app = kiosk()
    app.sign_in()
    app.tap("visitor")
    app.wait_screen("visitor")
    app.tap("sn_ABC")
    wait_until(lambda: visitor_form(app)["pad"] == "letters", what="pinyin keyboard")
    for key in ("L", "I", "␣", "M"):
        app.tap(f"kb_{key}")
    app.screenshot("visitor_pinyin_800x480")
    assert app.cmd("scan", text="INGX", enter=False)["ok"]  # a USB keyboard, same field
    assert app.cmd("key", key=8)["ok"]  # its backspace
    assert app.cmd("key", key=9)["ok"]  # Tab: the phone
    assert app.cmd("scan", text="13800001111", enter=False)["ok"]
    app.tap("f_reason")
    app.tap("r_visit")
    app.tap("v_dir_out")
    form = visitor_form(app)
    assert (form["name"], form["phone"], form["reason"]) == ("LI MING", "13800001111", "探访")
    app.tap("v_next")
    app.wait_screen("result")
    rows = app.db("select visitor_name, visitor_phone, visitor_reason, host_building, "
                  "direction from gate_events")
    assert rows == [("LI MING", "13800001111", "探访", "", "out")]


def test_thermometer_unplugged_mid_queue_volunteer_types_the_temperature(kiosk, sim):  # noqa: F811
    app = kiosk()
    app.sign_in()
    app.tap("dir_out")
    app.scan("R0003")
    app.wait_screen("result")
    app.tap("result_word")
    app.wait_screen("gate")
    sim.unplug()
    wait_until(lambda: app.flow()["thermometer"] == "unplugged", what="unplugged state")
    app.scan("W0001")
    app.wait_phase("measuring")
    assert app.flow()["manual_mode"]
    for key in ("t_3", "t_6", "t_5"):
        app.tap(key)
    app.screenshot("gate_manual_temperature_800x480")
    app.tap("t_OK", times=2)  # a doubled touch on confirm records one movement
    app.wait_screen("result")
    sim.replug()
    wait_until(lambda: app.flow()["thermometer"] == "connected", what="thermometer back")
    rows = app.db("select e.pass_number, e.outcome, r.source, r.used_c from gate_events e "
                  "join readings r on r.event_id = e.id order by e.seq")
    assert rows[0][:3] == ("R0003", "allow", "device")
    assert rows[1:] == [("W0001", "allow", "manual", 36.5)]


def test_search_by_building_unit_room_then_who_is_out_and_handover(kiosk):  # noqa: F811
    app = kiosk()
    app.sign_in()
    app.tap("dir_out")
    for key in "3-1-402":
        app.tap(f"s_{key}")
    app.tap("s_search")
    wait_until(lambda: app.flow()["search_hits"] == ["R0001", "R0002"], what="search hits")
    app.screenshot("gate_search_800x480")
    app.tap("hit_R0001")
    app.wait_screen("result")
    app.tap("result_word")
    app.wait_screen("gate")
    app.tap("who_is_out")
    app.wait_screen("whoisout")
    wait_until(lambda: any(w["tid"] == "out_R0001" for w in app.cmd("widgets")["widgets"]),
               what="who is out list")
    app.screenshot("who_is_out_800x480")
    app.tap("back")
    app.wait_screen("gate")
    app.tap("sign_out")
    app.wait_screen("handover")
    wait_until(lambda: any(w["tid"] == "h_h_still_out" for w in app.cmd("widgets")["widgets"]))
    app.screenshot("handover_800x480")
    app.tap("h_confirm")
    app.wait_screen("signin")
    assert app.db("select identified_by, direction from gate_events") == [("search", "out")]
    assert app.db("select ended_at is not null from shifts") == [(1,)]
    # the look-up of residents' data is in the audit log: who asked, and what
    (lookup,) = app.db("select actor, detail from audit_log where action = 'lookup'")
    assert lookup[0] == VOLUNTEER and '"query": "3-1-402"' in lookup[1]


def test_touch_targets_are_at_least_15_mm_on_the_pi_panel(kiosk):  # noqa: F811
    app = kiosk()
    minimum = 15 * PX_PER_MM_PI
    small = []

    def check(screen: str) -> int:
        app.wait_screen(screen)
        buttons = [w for w in app.cmd("widgets")["widgets"] if w["button"]]
        small.extend((screen, w["tid"], w["rect"][2:]) for w in buttons
                     if min(w["rect"][2:]) < minimum)
        return len(buttons)

    check("signin")
    app.sign_in()
    check("gate")
    for button, screen, back in (("visitor", "visitor", "v_back"),
                                 ("who_is_out", "whoisout", "back"),
                                 ("sign_out", "handover", "h_back")):
        app.tap(button)
        check(screen)
        if screen == "visitor":  # every pad of the form: pinyin, digits, reasons
            for tap, pad, keys in (("sn_ABC", "letters", 30), ("f_phone", "digits", 12),
                                   ("f_reason", "reasons", 4)):
                app.tap(tap)
                wait_until(lambda p=pad: visitor_form(app)["pad"] == p, what=pad)
                assert check(screen) >= keys + 8  # the pad's keys + 4 fields, 2 dirs, 2 nav
        app.tap(back)
        app.wait_screen("gate")
    assert not small


def test_english_at_tablet_size_and_wrong_pin(kiosk):  # noqa: F811
    app = kiosk(size=(1280, 800))
    app.wait_screen("signin")
    app.tap("lang")
    wait_until(lambda: app.state()["lang"] == "en")
    wait_until(lambda: app.cmd("tap", tid="name_李静")["ok"], what="volunteer list")
    for digit in "1357":
        app.tap(f"pin_{digit}")
    app.tap("pin_OK")
    wait_until(lambda: app.state()["signin_message"] == "pin_wrong", what="wrong PIN")
    app.screenshot("signin_wrong_pin_en_1280x800")
    app.sign_in()
    app.scan("R0005")
    app.wait_screen("result")
    app.screenshot("result_not_yet_valid_en_1280x800")
    app.tap("result_word")
    app.wait_screen("gate")
    app.screenshot("gate_idle_en_1280x800")
    assert app.db("select reason from gate_events") == [("not_yet_valid",)]


def test_admin_pin_opens_settings_and_saves_them(kiosk, data_dir):  # noqa: F811
    """On the touchscreen alone: the number pad, the probe of the thermometer the reader is
    using (paused, then back), a refused value in words, and an exit that asks first."""

    from kiosk import settings as settings_mod

    app = kiosk()
    app.open_admin()
    wait_until(lambda: app.state()["thermometer"] == "体温计正常", what="reader running")
    app.tap("a_screening.fever_threshold_c")
    for key in ("CLR", "3", "7", ".", "5"):
        app.tap(f"ak_{key}")
    app.screenshot("admin_number_pad_800x480")
    app.tap("ak_OK")
    app.tap("a_save")
    wait_until(lambda: app.state()["admin_message"] == "a_saved", what="saved")
    assert settings_mod.load(data_dir).screening.fever_threshold_c == 37.5
    # the devices were restarted off the UI thread, and came back
    assert app.state()["devices_restarted_on"] == "kiosk-worker"
    wait_until(lambda: app.state()["thermometer"] == "体温计正常", what="thermometer back")
    # the probe asks the port the running reader holds: the reader pauses, then resumes
    app.tap("a_probe")
    wait_until(lambda: app.state()["admin_message"] != "a_probing", what="probe done")
    assert app.state()["admin_message"] == "a_probe_found"
    wait_until(lambda: app.state()["thermometer"] == "体温计正常", what="reader resumed")
    app.tap("a_quota.days")
    app.tap("ak_CLR")
    app.tap("ak_0")
    app.tap("ak_OK")
    app.tap("a_save")
    wait_until(lambda: app.state()["admin_message"] == "a_invalid", what="refused")
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    assert shown["a_message"] == "「统计天数」不对：应为 1 或更大的整数"
    assert settings_mod.load(data_dir).quota.days == 2  # refused whole
    app.tap("a_exit")  # asks, does not quit
    app.tap("a_exit_no")
    app.tap("a_exit")
    app.screenshot("admin_exit_800x480")
    assert app.proc.poll() is None
    try:  # the app may stop before the hook answers the tap that stops it
        assert app.cmd("tap", tid="a_exit_yes")["ok"]
    except (AssertionError, OSError):
        pass
    assert app.proc.wait(15) == 0


def test_thermometer_garbage_and_doubled_pin_touches(kiosk, sim):  # noqa: F811
    from ui_testkit import PIN

    app = kiosk()
    app.wait_screen("signin")
    app.tap(f"name_{VOLUNTEER}")
    keys = {w["tid"]: w for w in app.cmd("widgets")["widgets"]}
    assert keys["pin_OK"]["text"] == "确定"  # OK in Chinese in Chinese mode
    app.tap("pin_9")
    app.tap("pin_OK")  # too short: a message appears...
    wait_until(lambda: app.state()["signin_message"] == "pin_short", what="PIN too short")
    moved = {w["tid"]: w for w in app.cmd("widgets")["widgets"]}
    assert moved["pin_1"]["rect"] == keys["pin_1"]["rect"]  # ...and the keypad stays put
    app.tap("pin_←")
    for digit in PIN:
        app.tap(f"pin_{digit}", times=2)  # every touch delivered twice, as on a Pi panel
    assert app.state()["pin"] == len(PIN)
    app.tap("pin_OK", times=2)
    app.wait_screen("gate")
    assert app.db("select count(*) from shifts") == [(1,)]
    sim.set_fault("bad_checksum")  # the thermometer now sends only garbage
    wait_until(lambda: app.flow()["thermometer"] not in ("connected", "starting"),
               what="thermometer judged unusable")
    app.scan("R0003")
    app.wait_phase("measuring")
    assert app.flow()["manual_mode"] and app.flow()["message"] == "thermo_down_manual"
    for key in ("t_3", "t_6", "t_.", "t_8"):
        app.tap(key)
    app.tap("t_OK")
    app.wait_screen("result")
    assert app.db("select r.source, r.used_c from readings r") == [("manual", 36.8)]


def test_a_name_by_initials_a_row_below_the_fold_and_an_undo(kiosk):  # noqa: F811
    """Pinyin initials from the letters pad; a list longer than the panel shows a scroll cue
    and its last row is picked after a swipe; a unique exact match needs no pick; a mistaken
    exit is undone with one tap and the household's outing is given back."""
    app = kiosk()
    app.sign_in()
    app.tap("dir_out")
    for key in ("s_letters", "s_Z", "s_search"):
        app.tap(key)
    wait_until(lambda: app.flow()["search_hits"] == ["R0001", "R0005", "W0001"],
               what="everyone whose initials start with Z")
    widgets = {w["tid"]: w for w in app.cmd("widgets")["widgets"]}
    assert widgets["query"]["text"].endswith("\n共 3 人，上下滑动查看")  # the scroll cue
    # the rows tell 张* apart by room, kind and pass number tail
    assert "3-1-402" in widgets["hit_R0001"]["text"] and "0001" in widgets["hit_R0001"]["text"]
    app.screenshot("gate_search_initials_800x480")
    assert not app.cmd("tap", tid="hit_W0001")["ok"]  # below the fold: not under a finger
    app.cmd("drag", tid="hit_R0001", dy=300)
    wait_until(lambda: app.cmd("tap", tid="hit_W0001")["ok"], what="last row after a swipe")
    app.wait_screen("result")
    app.tap("result_word")
    app.wait_screen("gate")
    # the pad keeps the letters the volunteer chose: a name by initials is 4 taps now,
    # 5 from the digits (the letters key first)
    taps = ("s_Z", "s_S", "s_M", "s_search")
    for key in taps:
        app.tap(key)
    app.wait_screen("result")  # ZSM is 张三明 alone: measured and decided, no pick
    assert len(taps) == 4
    assert app.db("select pass_number, identified_by from gate_events order by seq") == [
        ("W0001", "search"), ("R0001", "search")]
    # 张三明 was coming IN: undone from the gate screen, one tap, the outing given back
    app.tap("result_word")
    app.wait_screen("gate")
    app.screenshot("gate_undo_800x480")
    app.tap("undo")
    wait_until(lambda: app.flow()["message"] == "undone", what="undone")
    (undo,) = app.db("select e.outcome, e.corrects_event_id = o.id from gate_events e join "
                     "gate_events o on o.seq = e.seq - 1 where e.seq = 3")
    assert undo == ("undo", 1)
    app.scan("R0002")  # the next member of the household: still has the outing
    app.wait_screen("result")
    assert app.db("select pass_number, direction, outcome from gate_events where seq = 4") == [
        ("R0002", "out", "allow")]
    # now the outing is spent: the refusal says when the household went out, and may next
    app.tap("result_word")
    app.wait_screen("gate")
    app.scan("R0001")
    app.wait_screen("result")
    shown = {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}
    assert shown["result_reason"] == "本户外出次数已用完"
    assert shown["result_detail"].startswith("本户上次外出 ") and "起可再外出" in shown[
        "result_detail"]
    app.screenshot("result_quota_800x480")
    assert app.db("select pass_number, outcome, reason from gate_events where seq = 5") == [
        ("R0001", "deny", "quota_used")]
