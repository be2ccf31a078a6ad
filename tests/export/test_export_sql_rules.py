"""The export's SQL is generated from the core's privacy rules and the formula rule, and says
the same as the Python functions: on generated names, phones and pass numbers as the gate
stores them, and on any text."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.core import privacy
from kiosk.core.model import COURIER_NAME
from kiosk.core.privacy import Mask, mask_name, mask_pass_number, mask_phone
from kiosk.export.csvfile import FORMULA_STARTS, neutralise
from kiosk.export.sql import sql_integer_text, sql_mask, sql_neutralise

_sql = sqlite3.connect(":memory:")


def _run(expr: str, value: object) -> object:
    return _sql.execute(f"SELECT {expr}", {"x": value}).fetchone()[0]


_danger = st.sampled_from(sorted(FORMULA_STARTS))
#: any character but NUL (SQLite's text ends there; the importer refuses it) and surrogates
_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_hanzi = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
#: names as residents and visitors have them: Chinese, Latin, hostile, any length
names = st.one_of(
    st.just(COURIER_NAME),  # names nobody: shown whole
    st.text(_hanzi, min_size=1, max_size=6),
    st.text(st.characters(categories=("Lu", "Ll")), min_size=1, max_size=20),
    st.tuples(_danger, st.text(_char, max_size=8)).map("".join),
)
#: phones: mobile numbers, landlines, +86, short codes, hostile
phones = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"\+86 ?1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"0[0-9]{2,3}-?[0-9]{7,8}", fullmatch=True),
    st.text("0123456789", max_size=12),
    st.tuples(_danger, st.text("0123456789", max_size=14)).map("".join),
)
#: pass numbers: kind letter and digits, scanned QR text, hostile
pass_numbers = st.one_of(
    st.from_regex(r"[RWSV][0-9]{1,10}", fullmatch=True),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    st.tuples(_danger, st.text(_char, max_size=10)).map("".join),
)
any_text = st.text(_char, max_size=30)


@settings(max_examples=300, deadline=None)
@given(names, phones, pass_numbers, any_text)
def test_sql_masks_equal_the_python_masks(name: str, phone: str, number: str, text: str):
    # values are stored trimmed (importer, gate); the SQL relies on it
    name, phone, number, text = (v.strip() for v in (name, phone, number, text))
    assert _run(sql_mask(privacy.NAME, ":x"), name) == neutralise(mask_name(name))
    assert _run(sql_mask(privacy.PHONE, ":x"), phone) == neutralise(mask_phone(phone))
    assert _run(sql_mask(privacy.PASS_NUMBER, ":x"), number) == \
        neutralise(mask_pass_number(number))
    for mask in (privacy.NAME, privacy.PHONE, privacy.PASS_NUMBER, privacy.ID_NUMBER):
        assert _run(sql_mask(mask, ":x"), text) == neutralise(mask(text))
        assert _run(sql_mask(mask, ":x", neutralise=False), text) == mask(text)
    assert _run(sql_neutralise(":x"), text) == neutralise(text)
    assert _run(sql_integer_text(":x"), text) == neutralise(text)


rules = st.lists(st.tuples(st.integers(1, 12), st.integers(0, 4), st.integers(0, 4)),
                 max_size=3, unique_by=lambda r: r[0]).map(sorted).flatmap(
    lambda rest: st.tuples(st.integers(0, 4), st.integers(0, 4)).map(
        lambda first: Mask(((0, *first), *rest))))


@settings(max_examples=150, deadline=None)
@given(rules, st.lists(st.tuples(_danger | st.sampled_from("a张*"), st.integers(0, 16)),
                       min_size=1, max_size=4))
def test_any_mask_rule_gives_the_same_sql(mask: Mask, values: list[tuple[str, int]]):
    """A new mask rule needs no new SQL: the generator covers every rule shape."""
    for first, n in values:
        value = (first + "abcdefghijklmnop")[:n].strip()  # stored trimmed
        assert _run(sql_mask(mask, ":x"), value) == neutralise(mask(value)), (mask, value)


def test_masks_keep_null_and_numbers_stay_numbers():
    for mask in (privacy.NAME, privacy.PHONE, privacy.PASS_NUMBER):
        assert _run(sql_mask(mask, "NULL"), None) is None
    assert _run(sql_neutralise("NULL"), None) is None
    assert _run(sql_integer_text(":x"), -1.5) == -1.5 == neutralise(-1.5)
    assert _run(sql_integer_text(":x"), -3) == "-3"


def test_the_masks_show_what_the_volunteer_needs():
    assert mask_name("张三明") == "张*明" and mask_name("李四") == "李*"
    assert mask_phone("13812345678") == "138****5678" and mask_phone("5678") == "**78"
    assert mask_pass_number("R20230001") == "R******01" and mask_pass_number("R001") == "****"
    assert privacy.mask_id_number("420602199001011234") == "420602********1234"


def test_a_mask_rule_must_start_at_length_zero():
    with pytest.raises(ValueError):
        Mask(((3, 1, 1),))


def test_the_courier_word_is_shown_whole_and_a_name_like_it_is_masked():
    assert mask_name(COURIER_NAME) == COURIER_NAME == _run(sql_mask(privacy.NAME, ":x"),
                                                           COURIER_NAME)
    assert mask_name("快递员王") == "快**王" == _run(sql_mask(privacy.NAME, ":x"), "快递员王")

