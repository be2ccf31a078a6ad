"""The admin's pinyin keyboard without a window: the shipped table is what its generator
makes, candidates come common first, and the admin model types Chinese with them, refusing
in words what does not fit (issue 11)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from kiosk import settings as settings_mod
from kiosk.ui.vm import admin as av
from kiosk.ui.vm import pinyin
from kiosk.ui.vm.base import InlineRunner

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_table_is_what_its_generator_makes():
    spec = importlib.util.spec_from_file_location(
        "make_pinyin_table", REPO / "scripts" / "make_pinyin_table.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    shipped = (REPO / "assets" / pinyin.TABLE_FILE).read_text(encoding="utf-8")
    assert shipped == generator.build(), "run scripts/make_pinyin_table.py again"


def test_candidates_come_common_first_and_a_pick_leaves_the_next_syllable():
    assert pinyin.candidates("bei")[0].startswith("北被备")
    assert pinyin.candidates("wang")[0][0] == "王"  # 方 is read wang only rarely: far back
    assert pinyin.candidates("wang")[0].index("方") > 10
    assert "长" in pinyin.candidates("zhang")[0][:3] and "长" in pinyin.candidates("chang")[0][:3]
    assert pinyin.candidates("lv")[0][:4] == "率律旅绿"  # ü is typed v
    zh, used = pinyin.candidates("zh")  # the start of a syllable: the common ones of all
    assert used == 2 and set(zh[:4]) <= set("中这展主制政")
    assert pinyin.candidates("n")[0][0] != "嗯"  # an interjection does not go first
    assert pinyin.candidates("vv") == ("", 0)
    ime = pinyin.PinyinInput(per_page=6)
    for letter in "beijing":
        ime.type(letter)
    assert ime.shown() == pinyin.candidates("bei")[0][:6]
    assert ime.pick("京") == ""  # not on the row: nothing
    assert ime.pick("北") == "北" and ime.letters == "jing"
    assert ime.pick("京") == "京" and ime.letters == ""


def test_admin_types_chinese_on_the_pinyin_pad_and_refuses_what_does_not_fit(
        data_dir, settings, tick):
    m = av.AdminModel(data_dir, settings, InlineRunner(), lambda _s: None)
    m.debounce = av.Debouncer(clock=tick)

    def keys(*pressed: str) -> None:
        for key in pressed:
            tick.advance(0.2)
            m.key(key)

    def pick(char: str) -> None:
        tick.advance(0.2)
        m.pick(char)

    m.edit("fever.leader_name")
    assert m.pad == "pinyin"
    keys("123", "CLR", "中", *"li")
    pick("李")
    keys(*"zu")
    pick("组")
    keys(*"zhang", "▶")  # the second page of zhang's candidates, then back to the first
    assert m.candidate_page()[0] == 2
    keys(*"▶" * (m.candidate_page()[1] - 1))
    pick("长")
    keys("abc", *"ok", "OK")  # Latin letters a key away
    assert m.values["fever.leader_name"] == "李组长ok"
    m.edit("fever.leader_name")
    keys(*"xy", "←", "OK")  # the backspace takes pinyin first; pinyin left goes in as typed
    assert m.values["fever.leader_name"] == "李组长okx"
    m.edit("fever.observation_point")
    m.type_text("观" * 41)  # an input method's commit: refused whole, in words
    assert m.message == ("a_too_long", {"field": "a_observation", "max": 40})
    assert m.error and m.values["fever.observation_point"] == settings.fever.observation_point
    assert m.save()
    assert settings_mod.load(data_dir).fever.leader_name == "李组长okx"


def test_the_table_is_read_when_a_keyboard_is_used_not_at_start():
    code = ("import kiosk.ui.screens.admin, kiosk.ui.vm.pinyin as p, sys;"
            "print(p._read.cache_info().currsize, 'pypinyin' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
                              "KIVY_WINDOW": "", "PATH": ""}, timeout=60)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr[-2000:]
