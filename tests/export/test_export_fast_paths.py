"""The export's fast paths give what the plain ways give: csvfile.FastRows writes the bytes the
csv module writes, and the one-pass summary and device ranges equal the straightforward SQL
(kept here as the reference), on random days with several devices, checkpoints, wrong clocks
and ties."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.export.csvfile import FastRows, csv_field, csv_text, neutralise
from kiosk.export.nightly import _device_ranges
from kiosk.export.sql import sql_integer_text, sql_temperature_text
from kiosk.export.summary import DENY_REASONS, SUMMARY_KEYS, TOTAL, live_summary

# --- FastRows == csv module ----------------------------------------------------------------
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_plain = st.text(alphabet="ab张,\"\r\n %=", max_size=6)
_value = st.one_of(_plain, _text, st.integers(), st.floats(allow_nan=True),
                   st.booleans(), st.binary(max_size=4))


_reason = st.sampled_from(["通行", "无有效通行证,不予放行", 'a "b"', "x\r\ny", "", "100%"])


def _rows(value: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[int, list[tuple[Any, ...]]]]:
    return st.integers(min_value=2, max_value=6).flatmap(lambda n: st.tuples(
        st.just(n), st.lists(st.tuples(*[value] * (n - 1), _reason), max_size=12)))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_rows(_value), _rows(_plain), _rows(st.one_of(_plain, _text))))
def test_fast_rows_write_what_the_csv_module_writes(case: tuple[int, list[tuple[Any, ...]]]):
    ncols, rows = case
    for baked in ((), (0,), (1, ncols - 1), (ncols - 1,)):
        data = FastRows(ncols, baked).render(rows)
        if data is not None:  # None: the caller writes the chunk with the csv module
            assert data == csv_text(rows).encode("utf-8"), (baked, rows)
    # rows of another length are never formatted
    if rows:
        assert FastRows(ncols + 1).render(rows) is None


def test_fast_rows_take_the_fast_path_for_ordinary_rows_and_bake_reason_texts():
    msg = "无有效通行证,不予放行"
    rows = [("2026-02-10 07:00:00", "gate-1", 36.5, 1, msg, "No pass, stop", ""),
            ("2026-02-10 07:01:00", "gate-1", 37.25, 2, "通行", "Pass", "'=x")]
    data = FastRows(7, baked=(4, 5)).render(rows)
    assert data is not None and data == csv_text(rows).encode("utf-8")
    text_rows = [tuple(map(str, r)) for r in rows]  # as the export's SQL gives them
    data = FastRows(7, baked=(4, 5)).render(text_rows)
    assert data is not None and data == csv_text(text_rows).encode("utf-8")
    assert f'"{msg}","No pass, stop"'.encode() in data
    # a comma, quote or line break in an ordinary column: the csv module's turn
    for bad in ("a,b", 'a"b', "a\nb", "a\rb"):
        assert FastRows(7, baked=(4, 5)).render([(*rows[0][:6], bad)]) is None
    # a None outside the baked columns is the caller's mistake; wrong lengths fall back
    assert FastRows(7).render([rows[0][:6]]) is None
    assert FastRows(7).render([(*rows[0], "extra")]) is None
    assert csv_field(None) == "" and csv_field('a"b') == '"a""b"' and csv_field("") == ""


# --- numbers the SQL gives as text are written as Python writes them -------------------------
def test_sql_number_text_is_what_python_writes():
    """The movement SELECT gives temperatures, seq and escalated as text where that text is
    what Python writes for the value (repr / str): checked for every 2-decimal temperature
    below 1000 and odd values; the rest stays a number, which Python formats itself."""
    con = sqlite3.connect(":memory:")
    temp, integer = sql_temperature_text("x"), sql_integer_text("x")
    con.execute("CREATE TABLE v (x)")
    xs: list[Any] = [i / 1000 for i in range(-1000, 1_001_001)]
    xs += [-0.0, 1e-9, 0.004, 0.005, 999.995, 999.9951, 1e15, 1e16, 2.0**60, -37.5,
           1e308 * 10, 37, "36.5", "abc", b"\x01"]
    con.executemany("INSERT INTO v VALUES (?)", ((x,) for x in xs))
    n_text = 0
    for got, rounded in con.execute(f"SELECT {temp}, round(x, 2) FROM v"):
        if isinstance(got, str):
            assert got == repr(rounded)
            n_text += 1
        else:
            assert repr(got) == repr(rounded)
    assert n_text > 990_000
    for v in (0, 1, -1, 2**62, -(2**63), 1.5, -1.5, 1e300, "7", "a,b", "-1", "=1+2", None,
              b"\x00"):
        (got,) = con.execute(f"WITH v(x) AS (SELECT ?) SELECT {integer} FROM v", [v]).fetchone()
        assert got == (str(v) if isinstance(v, int) else neutralise(v))
    con.close()


# --- live_summary and _device_ranges == the straightforward SQL ------------------------------
_SCHEMA = """CREATE TABLE gate_events (
  id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,
  wall_utc TEXT NOT NULL, local_date TEXT NOT NULL, checkpoint TEXT NOT NULL,
  direction TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL,
  escalated BOOLEAN NOT NULL DEFAULT 0, resident_id INTEGER, visitor_name TEXT,
  corrects_event_id INTEGER, UNIQUE (device_id, seq));
CREATE INDEX ix_gate_events_day_order ON gate_events (local_date, checkpoint, device_id, seq);
CREATE TABLE daily_summaries (local_date TEXT, checkpoint TEXT, counts TEXT)"""
D0 = date(2026, 2, 9)

_event = st.fixed_dictionaries({
    "device_id": st.sampled_from(["dev-a", "dev-b", "=dev-c"]),
    "wall_utc": st.sampled_from(["2026-02-09 08:00:00", "2026-02-10 08:00:00",
                                 "2026-02-10 09:00:00", "2026-02-11 07:00:00"]),
    "day": st.integers(min_value=0, max_value=2),
    "checkpoint": st.sampled_from(["gate-1", "gate-2", "'=g3"]),
    "direction": st.sampled_from(["in", "out"]),
    "outcome": st.sampled_from(["allow", "allow", "deny", "remeasure"]),
    "reason": st.sampled_from(["ok", "fever", "expired", "quota_used", "fever_remeasure",
                               "not_a_reason"]),
    "escalated": st.booleans(),
    "resident_id": st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    "visitor_name": st.sampled_from([None, "", "访客"]),
    # an allowed movement undone at the gate right after: a correction event names it
    "undone": st.booleans(),
})
#: a movement that happened (the reference's own way of saying it: a correlated NOT EXISTS)
_MOVED = ("outcome = 'allow' AND NOT EXISTS (SELECT 1 FROM gate_events AS c "
          "WHERE c.corrects_event_id = gate_events.id)")
_NOT_CORRECTION = ("corrects_event_id IS NULL AND NOT EXISTS (SELECT 1 FROM gate_events AS c "
                   "WHERE c.corrects_event_id = gate_events.id)")


def _reference_summary(cur: sqlite3.Cursor, day: date,
                       checkpoints: list[str] | None) -> dict[str, dict[str, int]]:
    """live_summary as it was written first: one query per count, still out over all time."""
    where = "local_date = ?"
    cp = f" AND checkpoint IN ({','.join('?' * len(checkpoints))})" if checkpoints else ""
    params: list[Any] = [day.isoformat(), *(checkpoints or ())]
    out: dict[str, dict[str, int]] = {}
    base = f"""SELECT {{group}},
        coalesce(sum({_MOVED} AND direction = 'in'), 0),
        coalesce(sum({_MOVED} AND direction = 'out'), 0),
        count(DISTINCT CASE WHEN {_MOVED} THEN resident_id END),
        coalesce(sum(visitor_name IS NOT NULL AND visitor_name != '' AND {_NOT_CORRECTION}),
                 0),
        coalesce(sum(escalated), 0),
        coalesce(sum(outcome = 'remeasure'), 0),
        coalesce(sum(outcome = 'deny'), 0)
      FROM gate_events WHERE {{where}}{{cp}} {{group_by}}"""
    for group, group_by in (("checkpoint", "GROUP BY checkpoint"), (f"'{TOTAL}'", "")):
        for row in cur.execute(base.format(group=group, where=where, cp=cp,
                                           group_by=group_by), params):
            if group_by == "" and not out:
                break
            counts = out.setdefault(row[0], dict.fromkeys(SUMMARY_KEYS, 0))
            for key, value in zip(("entries", "exits", "unique_residents", "visitors",
                                   "confirmed_fevers", "remeasures", "denials"), row[1:],
                                  strict=True):
                counts[key] = int(value)
    known = {f"deny_{r.value}" for r in DENY_REASONS}
    for checkpoint, reason, n in cur.execute(
            f"SELECT checkpoint, reason, count(*) FROM gate_events WHERE {where}{cp} "
            "AND outcome = 'deny' GROUP BY checkpoint, reason", params).fetchall():
        key = f"deny_{reason}" if f"deny_{reason}" in known else "deny_other"
        for target in (checkpoint, TOTAL):
            out.setdefault(target, dict.fromkeys(SUMMARY_KEYS, 0))[key] += n
    last: dict[int, tuple[str, str, str]] = {}
    for resident_id, _seq, _device, direction, checkpoint, wall in cur.execute(
            "SELECT resident_id, max(seq), device_id, direction, checkpoint, wall_utc "
            f"FROM gate_events WHERE local_date <= ? AND {_MOVED} "
            "AND resident_id IS NOT NULL GROUP BY resident_id, device_id", [day.isoformat()]):
        if resident_id not in last or wall > last[resident_id][0]:
            last[resident_id] = (wall, direction, checkpoint)
    for _wall, direction, checkpoint in last.values():
        if direction != "out" or (checkpoints and checkpoint not in checkpoints):
            continue
        for target in (checkpoint, TOTAL):
            out.setdefault(target, dict.fromkeys(SUMMARY_KEYS, 0))["still_out"] += 1
    if len([k for k in out if k != TOTAL]) <= 1:
        out.pop(TOTAL, None)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(_event, max_size=40), st.randoms(use_true_random=False))
def test_summary_and_device_ranges_equal_the_straightforward_sql(events, rnd):
    con = sqlite3.connect(":memory:")
    con.executescript(_SCHEMA)
    seqs: dict[str, int] = {}
    rows = []
    for e in events:  # seq in recording order per device; inserted in random order
        seqs[e["device_id"]] = seqs.get(e["device_id"], 0) + 1
        row = (len(rows) + 1, e["device_id"], seqs[e["device_id"]], e["wall_utc"],
               (D0 + timedelta(days=e["day"])).isoformat(), e["checkpoint"],
               e["direction"], e["outcome"], e["reason"], e["escalated"],
               e["resident_id"], e["visitor_name"], None)
        rows.append(row)
        if e["undone"] and e["outcome"] == "allow":  # the correction, as Gate.undo makes it
            seqs[e["device_id"]] += 1
            rows.append((len(rows) + 1, *row[1:2], seqs[e["device_id"]], *row[3:7], "undo",
                         "undone", False, *row[10:12], row[0]))
    rnd.shuffle(rows)
    con.executemany("INSERT INTO gate_events (id, device_id, seq, wall_utc, local_date, "
                    "checkpoint, direction, outcome, reason, escalated, resident_id, "
                    "visitor_name, corrects_event_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    rows)
    cur = con.cursor()
    for offset in range(4):
        day = D0 + timedelta(days=offset)
        for checkpoints in (None, ["gate-1"], ["gate-1", "'=g3"]):
            assert live_summary(cur, day, checkpoints) == \
                _reference_summary(cur, day, checkpoints), (day, checkpoints)
            where = "local_date = ?" + (
                f" AND checkpoint IN ({','.join('?' * len(checkpoints))})"
                if checkpoints else "")
            expected = [{"device_id": d, "first_seq": lo, "last_seq": hi, "events": n}
                        for d, lo, hi, n in cur.execute(
                            "SELECT device_id, min(seq), max(seq), count(*) FROM gate_events "
                            f"WHERE {where} GROUP BY device_id ORDER BY device_id",
                            [day.isoformat(), *(checkpoints or ())])]
            assert _device_ranges(cur, day, checkpoints) == expected
    con.close()
