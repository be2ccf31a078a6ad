"""The gate screen's status bar under Xvfb, in both languages, on the Pi panel (800x480) and
a tablet (1280x800): no status text is ever shortened ("Therm…ter OK") or runs past the bar,
in the states the app shows by itself and in every thermometer, camera and sync state."""

from __future__ import annotations

import pytest
from ui_testkit import kiosk, passes, sim, wait_until, xvfb  # noqa: F401 - fixtures

from kiosk.ui.i18n import CATALOGUE, tr

SIZES = [(800, 480), (1280, 800)]
#: in one device's state the type shrinks at most this much: the checkpoint name is never
#: cut ("北苑...门"), so in English on the 7-inch panel the words give a little instead
MIN_FIT = 0.8
#: the status bar's texts as the app sets them, per app property
STATES = {
    "thermo_text": [k for k in CATALOGUE if k.startswith("thermo_") and k != "thermo_down_manual"],
    "camera_text": [k for k in CATALOGUE if k.startswith("cam_")],
    "sync_text": [k for k in CATALOGUE if k.startswith("sync_")] + [
        "sync_done+rules_version", "sync_waiting+rules_version"],
    "clock_text": ["clock_untrusted"],
}
TYPICAL = {"thermo_text": "thermo_connected", "camera_text": "cam_connected",
           "sync_text": "sync_waiting"}


def text(key: str, lang: str) -> str:
    """The text of a catalogue key, or of keys joined by "+" as the app joins them."""
    return " ".join(tr(k, lang, count=1234, minutes=125, time="23:59", version=12, hours=30)
                    for k in key.split("+"))


def problems(bar: dict, may_shorten: tuple[str, ...] = ()) -> list[str]:
    """Labels whose text needs more room than they have, or that leave the bar."""
    bx, _by, bw, _bh = bar["bar"]
    found = []
    right = bx
    for label in bar["labels"]:
        x, _y, w, _h = label["rect"]
        if not label["text"]:
            continue
        if label["needs"] > w + 0.5 and label["tid"] not in may_shorten:
            found.append(f"{label['tid']} cut: {label['text']!r} needs {label['needs']:.0f} "
                         f"px, has {w:.0f}")
        if x < right - 0.5 or x + w > bx + bw + 0.5:
            found.append(f"{label['tid']} overlaps or leaves the bar: {label['rect']}")
        right = x + w
    return found


def switch_language(app, lang: str) -> None:  # noqa: ANN001
    """Languages are switched on the sign-in screen: sign out, switch, sign in again."""
    if app.state()["lang"] == lang:
        return
    app.tap("sign_out")
    app.wait_screen("handover")
    app.tap("h_confirm")
    app.wait_screen("signin")
    app.tap("lang")
    wait_until(lambda: app.state()["lang"] == lang, what=f"language {lang}")
    app.sign_in()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_status_text_is_cut_in_either_language(kiosk, size):  # noqa: F811
    app = kiosk(size=size)
    app.sign_in()
    found: list[str] = []
    for lang in ("zh", "en"):
        switch_language(app, lang)
        wait_until(lambda lang=lang: app.state()["thermometer"] == tr("thermo_connected", lang),
                   what="thermometer connected")
        as_shown = app.cmd("status_bar")  # what the app shows by itself
        found += [f"{lang} {size} as shown: {p}" for p in problems(as_shown)]
        assert as_shown["fit"] >= MIN_FIT, as_shown  # and at (nearly) full size
        app.screenshot(f"status_bar_{lang}_{size[0]}x{size[1]}")
        # every state of each device, the others as on a busy enrolled kiosk: nothing is cut
        # and the type keeps its size
        for prop, keys in STATES.items():
            for key in keys:
                texts = {p: text(k, lang) for p, k in TYPICAL.items()}
                texts[prop] = text(key, lang)
                bar = app.cmd("status_bar", texts=texts)
                found += [f"{lang} {size} {key}: {p}" for p in problems(bar)]
                if bar["fit"] < MIN_FIT:
                    found.append(f"{lang} {size} {key}: type shrunk to {bar['fit']:.2f}")
        # everything wrong at once, with the clock warning: the type may shrink and a long
        # checkpoint name may be shortened, but no status word is cut and nothing overflows
        for clock, warning in (("clock_untrusted", ""), ("", "clock_slow"), ("", "data_old")):
            worst = {"thermo_text": text("thermo_wrong_protocol", lang),
                     "camera_text": text("cam_starting", lang),
                     "sync_text": text("sync_waiting+rules_version", lang),
                     "clock_text": text(clock, lang) if clock else "",
                     "warning_text": text(warning, lang) if warning else ""}
            bar = app.cmd("status_bar", texts=worst)
            found += [f"{lang} {size} worst, {warning}: {p}"
                      for p in problems(bar, ("checkpoint",))]
        app.screenshot(f"status_bar_worst_{lang}_{size[0]}x{size[1]}")
    assert not found, "\n".join(found)


def test_a_clock_the_central_store_finds_wrong_is_shown_at_the_gate(kiosk, data_dir):  # noqa: F811
    """The last sync measured this kiosk's clock 12 minutes fast: the gate screen says so
    (the gates compare movements by their clocks; the team leader sets the time)."""
    from kiosk import settings as settings_mod
    from kiosk.store.db import open_store
    from kiosk.sync import state

    start = kiosk  # prepares the data directory
    settings_mod.update(data_dir, lambda s: setattr(s.sync, "url", "http://127.0.0.1:9/"))
    state.write_secret(data_dir, "not-a-real-secret")
    store = open_store(data_dir / "kiosk.sqlite3")
    state.record(store.engine, **state.clock_offset(721.0))
    store.close()
    app = start()
    app.sign_in()
    wait_until(lambda: "时钟快 12 分钟" in app.state()["warning"], what="clock warning")
    app.screenshot("clock_fast_800x480")


def test_a_gate_says_whether_its_hub_reaches_the_district_and_since_when_it_is_stale(
        kiosk, data_dir, zone):  # noqa: F811
    """Through the compound's hub: the gate says when the hub does not reach the district
    (the gates still agree through it), and since when it has not heard of the other gates
    (its last sync) once that is more than a few seconds ago, in the kiosk's zone (the
    sync times are kept in UTC)."""
    import json
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from kiosk import settings as settings_mod
    from kiosk.store.db import open_store
    from kiosk.sync import state

    start = kiosk  # prepares the data directory
    zone("Asia/Shanghai")  # the app inherits it

    def through_hub(s: settings_mod.Settings) -> None:
        s.sync.url = "http://127.0.0.1:9/"
        s.sync.hub = "http://127.0.0.1:9/"

    settings_mod.update(data_dir, through_hub)
    state.write_secret(data_dir, "not-a-real-secret")
    store = open_store(data_dir / "kiosk.sqlite3")

    def synced(ago_s: float, district_last_success: str | None = "2026-01-01T08:00:00"
               ) -> None:
        uplink = {"hub": True, "district_ok": False, "gates": [],
                  "district_last_success": district_last_success}
        state.record(store.engine, **{
            state.LAST_SUCCESS: state.time_text(datetime.now(UTC) - timedelta(seconds=ago_s)),
            state.UPLINK: json.dumps(uplink)})

    synced(0, district_last_success=None)  # a hub cut off since it was set up
    app = start()
    app.sign_in()
    wait_until(lambda: app.state()["sync"] == "枢纽从未连上区里", what="hub never reached")
    synced(0)  # it reached the district once, not now
    wait_until(lambda: app.state()["sync"] == "枢纽未连区里", what="hub without district")
    synced(600)
    last = (datetime.now(UTC) - timedelta(seconds=600)).astimezone(ZoneInfo("Asia/Shanghai"))
    since = f"{last:%H:%M}"
    wait_until(lambda: app.state()["sync"] == f"他门数据截至 {since}", what="stale view")
    store.close()


def test_the_rules_in_force_and_old_data_are_shown_at_the_gate(kiosk, data_dir):  # noqa: F811
    """The gate holds the command's rule set v7 (signed, in force) and its roster, keys and
    revocations came 30 hours ago: the status bar shows the version and warns of the old
    data, and the gate still works."""
    from datetime import datetime, timedelta

    from kiosk import settings as settings_mod
    from kiosk.core import rules
    from kiosk.core.passcode import generate_key_pair, public_key_to_hex
    from kiosk.store import rules as kept_rules
    from kiosk.store.db import open_store
    from kiosk.store.passkeys import trust_key
    from kiosk.sync import state

    start = kiosk  # prepares the data directory
    settings_mod.update(data_dir, lambda s: setattr(s.sync, "url", "http://127.0.0.1:9/"))
    state.write_secret(data_dir, "not-a-real-secret")
    store = open_store(data_dir / "kiosk.sqlite3")
    private, public = generate_key_pair()
    trust_key(store.engine, "CMD1", public_key_to_hex(public))
    v7 = rules.RuleSet(7, datetime(2026, 1, 1), 37.3, 0.0, 1, 2)
    assert kept_rules.keep(store.engine, [rules.sign(v7, private, "CMD1")]) == ([7], 0)
    state.record(store.engine, **{
        state.LAST_SUCCESS: state.now_text(),
        state.DATA_AS_OF: (datetime.now() - timedelta(hours=30)).isoformat(timespec="seconds")})
    store.close()
    app = start()
    app.sign_in()
    wait_until(lambda: app.state()["rules"] == "规则v7", what="rules version")
    wait_until(lambda: app.state()["sync"].endswith(" 规则v7"), what="rules in the bar")
    wait_until(lambda: "30 小时未更新" in app.state()["warning"], what="data age warning")
    assert app.state()["policy"]["quota_outings"] == 1
    app.screenshot("rules_and_old_data_800x480")
