"""Chinese text settings typed on the touchscreen alone (issue 11): the admin's pinyin
keyboard and its candidate row, under Xvfb, down to the saved settings and the fever screen
that shows them; a text too long is refused in words and not kept."""

from __future__ import annotations

from ui_testkit import kiosk, passes, sim, wait_until, xvfb  # noqa: F401 - fixtures

from kiosk import settings as settings_mod


def type_chinese(app, taps: list[str], *words: str) -> None:  # noqa: ANN001
    """Each word's pinyin on the letter keys, then its character from the candidate row
    (turning the row's pages until it shows); digits through the 123 pad."""
    for word in words:
        if word.isdigit():
            for key in ("123", *word, "中"):
                app.tap(f"ak_{key}")
                taps.append(key)
            continue
        pinyin, char = word.split("=")
        for letter in pinyin:
            app.tap(f"ak_{letter}")
            taps.append(letter)
        for _ in range(5):
            if app.cmd("tap", tid=f"ap_{char}")["ok"]:
                taps.append(char)
                break
            app.tap("ap_▶")
            taps.append("▶")
        else:
            raise AssertionError(f"{char} not among the candidates of {pinyin}")


def setting(app, name: str) -> None:  # noqa: ANN001
    """Tap a setting, turning the form's pages until it is on the one shown."""
    for _ in range(4):
        if app.cmd("tap", tid=f"a_{name}")["ok"]:
            return
        app.tap("a_page")
    raise AssertionError(f"setting {name} on no page")


def texts(app) -> dict[str, str]:  # noqa: ANN001
    return {w["tid"]: w["text"] for w in app.cmd("widgets")["widgets"]}


def test_leader_and_observation_point_typed_in_pinyin_then_on_the_fever_screen(
        kiosk, sim, data_dir):  # noqa: F811
    app = kiosk()
    app.open_admin()
    setting(app, "fever.leader_name")  # 王组长 now: cleared on the digits pad, then pinyin
    for key in ("123", "CLR", "中"):
        app.tap(f"ak_{key}")
    taps: list[str] = []
    for letter in "zhang":  # "zhang": 长 张 章 ... typed, not yet picked
        app.tap(f"ak_{letter}")
    app.screenshot("admin_pinyin_800x480")
    assert texts(app)["a_message"] == "修改组长称呼（发热时联系）：[u]zhang[/u]▏"
    app.tap("ap_←")  # the backspace takes a letter of the pinyin first: zhan, 展 战 ...
    assert "ap_展" in texts(app) and "ap_张" not in texts(app)
    app.tap("ak_g")
    app.tap("ap_张")
    type_chinese(app, taps, "zu=组", "zhang=长")
    app.tap("ap_OK")
    assert texts(app)["a_fever.leader_name"] == "张组长"
    setting(app, "fever.observation_point")
    for key in ("123", "CLR", "中"):
        app.tap(f"ak_{key}")
    # 5号楼西侧帐篷: 帐 and 篷 are on the second page of their candidates
    type_chinese(app, taps, "5", "hao=号", "lou=楼", "xi=西", "ce=侧", "zhang=帐",
                 "peng=篷")
    assert "▶" in taps
    app.tap("ap_OK")
    app.tap("a_save")
    wait_until(lambda: app.state()["admin_message"] == "a_saved", what="saved")
    saved = settings_mod.load(data_dir).fever
    assert (saved.leader_name, saved.observation_point) == ("张组长", "5号楼西侧帐篷")
    # longer than the escalation screen's line: the key past 40 characters is refused in
    # words (a USB keyboard here, one character a key), the field keeps 40
    setting(app, "fever.observation_point")
    assert app.cmd("scan", text="临" * 40, enter=False)["ok"]
    assert texts(app)["a_message"] == "「临时观察点（发热者去处）」最多 40 个字，这个字没有加上"
    app.tap("ak_z")  # the next key: the field's value again
    assert texts(app)["a_message"] == ("修改临时观察点（发热者去处）：5号楼西侧帐篷"
                                       f"{'临' * 33}[u]z[/u]▏")
    app.tap("ap_OK")  # the pinyin left is refused too: no room
    assert app.state()["admin_message"] == "a_too_long"
    app.tap("a_back")  # not saved: the settings are as they were
    assert settings_mod.load(data_dir).fever.observation_point == "5号楼西侧帐篷"
    print(f"taps: 张组长 + 5号楼西侧帐篷 after the first 张: {len(taps)}")
    # the fever screen says whom to call and where the person waits
    app.sign_in()
    sim.set_temperature(38.0)
    app.scan("R0001")
    app.wait_phase("countdown")
    sim.set_temperature(38.3)
    app.wait_screen("result")
    shown = texts(app)
    assert shown["result_reason"] == "请立即联系组长：张组长 13800138000"
    assert "5号楼西侧帐篷" in shown["result_next"]
