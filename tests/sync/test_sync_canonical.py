"""The bytes the hash chain is computed over must never change: every kiosk's stored chain,
and the central store's re-verification of it, depend on them. ``_canonical`` was made faster
(the encoder converts dates instead of a Python pass over every value); these tests hold it
to the original implementation, byte for byte."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.store.events import _canonical, event_hash, personal_digest


def original_canonical(body: dict[str, Any]) -> bytes:
    """kiosk.store.events._canonical as it was when the first chains were recorded."""
    def norm(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime | date) else v

    clean = {k: norm(v) for k, v in body.items()}
    return json.dumps(clean, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


READINGS = [
    {"event_id": "e", "ordinal": 1, "state": "ok", "object_c": 36.4, "ambient_c": 21.25,
     "used_c": 36.9, "source": "sensor", "device": "/dev/ttyUSB0", "protocol": "gy-mcu90614"},
    {"event_id": "e", "ordinal": 2, "state": "fever", "object_c": 38.05, "ambient_c": None,
     "used_c": 38.55, "source": "manual", "device": "", "protocol": ""},
]

CASES: list[dict[str, Any]] = [
    {"wall_utc": datetime(2024, 3, 1, 8, 30, 15, 123456)},
    {"wall_utc": datetime(2024, 3, 1, 8, 30, 15)},  # no microseconds: isoformat omits them
    {"wall_utc": datetime(2024, 3, 1, 8, 30, 15, 100)},
    {"wall_utc": datetime(2024, 3, 1, 8, 30, tzinfo=UTC)},
    {"wall_utc": datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=8)))},
    {"local_date": date(2024, 2, 29), "d": date(1, 1, 1), "e": date(9999, 12, 31)},
    {"f": 0.1, "g": 0.1 + 0.2, "h": 36.4, "i": -0.0, "j": 1e16, "k": 1e-5, "l": 1e308,
     "m": 5e-324, "n": 123456.789012, "o": 1.0, "p": -273.15, "q": 2.5e-7},
    {"nan": math.nan, "inf": math.inf, "minf": -math.inf},
    {"big": 2**70, "neg": -(2**63), "zero": 0, "t": True, "f": False, "none": None},
    {"name": "张一", "host_building": "7号楼", "reason": "看病 / 买药", "note": ""},
    {"visitor_name": "😀 Zoë", "x": "👨‍👩‍👧‍👦", "y": "\u2028\u2029", "z": "\x7f\x80"},
    {"ctl": "\x00\x01\x1f\t\n\r\b\f", "q": 'say "hi" \\ back/slash', "html": "<&>"},
    {"键": 1, "ключ": 2, "a": 3, "B": 4, "_": 5, "": 6, "10": 7, "9": 8},
    {"readings": READINGS, "hash": "ab" * 32, "prev_hash": ""},
    {"readings": [], "nested": {"b": [1, 2.5, None, "三"], "a": {"z": True, "y": []}}},
    {"pass_number": None, "pass_id": None, "resident_id": None, "household": None,
     "visitor_name": None, "visitor_phone": None, "visitor_reason": None,
     "host_building": None, "note": None},
    {},
]


@pytest.mark.parametrize("body", CASES, ids=range(len(CASES)))
def test_canonical_is_byte_identical_to_the_original(body: dict[str, Any]) -> None:
    assert _canonical(body) == original_canonical(body)


def test_canonical_bytes_are_pinned() -> None:
    """Independent of any implementation: the exact bytes of one body."""
    body = {"wall_utc": datetime(2024, 3, 1, 8, 30, 15), "local_date": date(2024, 3, 1),
            "name": "张一😀", "t": 36.4, "ok": True, "n": None,
            "readings": [{"b": 1, "a": 1e-05}]}
    assert _canonical(body) == (
        '{"local_date":"2024-03-01","n":null,"name":"张一😀","ok":true,'
        '"readings":[{"a":1e-05,"b":1}],"t":36.4,"wall_utc":"2024-03-01T08:30:15"}'
    ).encode()


def test_a_real_event_hashes_the_same_both_ways() -> None:
    values = {"id": "0f0e8c1e-5d5b-4a86-9f5e-6f1b1d0c2a11", "device_id": "dev", "seq": 7,
              "wall_utc": datetime(2024, 3, 1, 8, 30, 15, 5), "local_date": date(2024, 3, 1),
              "monotonic_s": 1234.5678, "pass_number": "R0000001", "household": "1-1-101",
              "visitor_name": "王铁路", "note": "体温复测", "outcome": "allow",
              "counts_against_quota": True, "escalated": False, "fever_threshold_c": 37.3,
              "prev_hash": "0" * 64}
    values["personal_digest"] = personal_digest(values)
    personal = {k: values.get(k) for k in ("pass_number", "pass_id", "resident_id",
                                            "household", "visitor_name", "visitor_phone",
                                            "visitor_reason", "host_building", "note")}
    assert values["personal_digest"] == hashlib.sha256(
        original_canonical(personal)).hexdigest()
    body = {k: v for k, v in values.items() if k not in personal}
    body["readings"] = READINGS
    assert event_hash(values, READINGS) == hashlib.sha256(original_canonical(body)).hexdigest()


def test_unknown_types_still_refused() -> None:
    with pytest.raises(TypeError):
        _canonical({"x": object()})
    with pytest.raises(TypeError):
        original_canonical({"x": object()})


json_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
             | st.text())
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
top_value = (json_value | st.datetimes() | st.dates()
             | st.datetimes(timezones=st.just(UTC)))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), top_value, max_size=12))
def test_canonical_matches_the_original_on_generated_bodies(body: dict[str, Any]) -> None:
    try:
        want = original_canonical(body)
    except UnicodeEncodeError:  # a lone surrogate: refused both ways
        with pytest.raises(UnicodeEncodeError):
            _canonical(body)
        return
    assert _canonical(body) == want
