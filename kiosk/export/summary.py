"""The day's counts for the summary file: per checkpoint, plus a total row for several.

Computed from the events in two passes (docs/BENCHMARKS_export.md), or taken from the counts
retention froze when it wiped a day's personal fields (kiosk/store/retention.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from kiosk.core.messages import Reason
from kiosk.export.columns import Label, header
from kiosk.export.csvfile import WrittenFile, write_csv
from kiosk.export.sql import sql_str

#: label of the summary row that adds up all checkpoints
TOTAL = "*"

#: short Chinese labels of the denial reasons in the summary header
_REASON_ZH = {
    Reason.UNKNOWN_PASS: "无证", Reason.FORGED: "伪造", Reason.EXPIRED: "过期",
    Reason.NOT_YET_VALID: "未生效", Reason.REVOKED: "作废", Reason.WRONG_KIND: "类别不符",
    Reason.WRONG_HOUR: "时段不符", Reason.FEVER_REMEASURE: "体温复测", Reason.FEVER: "发热",
    Reason.READING_INVALID: "体温无效", Reason.QUOTA_USED: "次数用完",
}
#: an undo (Reason.UNDONE) is a correction, an acknowledgement (LEADER_NOTIFIED) a note on a
#: fever already counted: never a denial
DENY_REASONS = tuple(r for r in Reason if r not in (Reason.OK, Reason.UNDONE,
                                                    Reason.LEADER_NOTIFIED))

#: (key, Chinese header, English header) of the daily counts, in file order
SUMMARY_COUNTS: tuple[Label, ...] = tuple(Label(*c) for c in (
    ("entries", "进入", "entries"),
    ("exits", "外出", "exits"),
    ("unique_residents", "出入居民(人)", "unique_residents"),
    ("visitors", "访客", "visitors"),
    ("confirmed_fevers", "确认发热", "confirmed_fevers"),
    ("remeasures", "复测", "remeasures"),
    ("still_out", "日终未归", "still_out"),
    ("denials", "拒绝合计", "denials"),
    *((f"deny_{r.value}", f"拒绝-{_REASON_ZH[r]}", f"deny_{r.value}") for r in DENY_REASONS),
    ("deny_other", "拒绝-其他", "deny_other"),
))
SUMMARY_KEYS = tuple(c.key for c in SUMMARY_COUNTS)

#: SQL: this ``gate_events`` row has not been undone at the gate (no correction event names
#: it). An undone movement did not happen: it is no entry, no exit, and leaves nobody out.
#: Not correlated: SQLite reads the few corrections once into an index.
NOT_UNDONE = ("id NOT IN (SELECT corrects_event_id FROM gate_events "
              "WHERE corrects_event_id IS NOT NULL)")


def empty_counts() -> dict[str, int]:
    """All counts zero (a quiet day still reports them)."""
    return dict.fromkeys(SUMMARY_KEYS, 0)


def day_filter(checkpoints: Sequence[str] | None, op: str = "=") -> tuple[str, str]:
    where = f"local_date {op} ?"
    cp = ""
    if checkpoints:
        cp = f" AND checkpoint IN ({','.join('?' * len(checkpoints))})"
    return where, cp


def live_summary(cur: sqlite3.Cursor, day: date,
                 checkpoints: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """The day's counts computed from the events: {checkpoint: counts}, plus TOTAL.

    * entries / exits: allowed movements in / out, except those undone at the gate (a
      correction event names them: the movement did not happen);
    * unique_residents: distinct residents with an allowed movement that day;
    * visitors: events with a visitor name (neither an undone movement nor its correction);
      remeasures: 're-measure' outcomes;
    * confirmed_fevers: escalated events (a fever, whatever the papers' reason); denials
      and deny_<reason>: 'deny' outcomes;
    * still_out: residents whose last allowed movement up to the end of the day (over all
      time) was OUT, counted at the checkpoint of that movement.

    Two passes: the day's events once (in the order of the day index, so grouping by
    checkpoint needs no sort), and the allowed movements of residents up to that day once,
    which gives both "still out" and the unique residents. TOTAL adds up the checkpoints
    (unique residents: distinct over all of them); it is kept only for several checkpoints.
    """
    where, cp = day_filter(checkpoints)
    params: list[Any] = [day.isoformat(), *(checkpoints or ())]
    allow = f"outcome = 'allow' AND {NOT_UNDONE}"
    out: dict[str, dict[str, int]] = {}
    deny_known = [f"deny_{r.value}" for r in DENY_REASONS]
    deny_sql = "".join(f",\n  count(*) FILTER (WHERE outcome = 'deny' AND reason = "
                       f"{sql_str(r.value)})" for r in DENY_REASONS)
    sql = f"""SELECT checkpoint,
  count(*) FILTER (WHERE {allow} AND direction = 'in'),
  count(*) FILTER (WHERE {allow} AND direction = 'out'),
  count(*) FILTER (WHERE visitor_name != '' AND corrects_event_id IS NULL AND {NOT_UNDONE}),
  count(*) FILTER (WHERE escalated),
  count(*) FILTER (WHERE outcome = 'remeasure'),
  count(*) FILTER (WHERE outcome = 'deny'){deny_sql}
FROM gate_events WHERE {where}{cp} GROUP BY checkpoint"""
    day_keys = ("entries", "exits", "visitors", "confirmed_fevers", "remeasures", "denials",
                *deny_known)
    for checkpoint, *values in cur.execute(sql, params):
        counts = out[checkpoint] = empty_counts()
        counts.update(zip(day_keys, values, strict=True))
        counts["deny_other"] = counts["denials"] - sum(counts[k] for k in deny_known)

    # each resident's allowed movements up to the day's end, per device and checkpoint: the
    # last one (seq is the true order on a device) and whether any was on the day itself
    sql = ("SELECT resident_id, device_id, checkpoint, max(seq), direction, wall_utc, "
           "count(*) FILTER (WHERE local_date = ?) "
           f"FROM gate_events WHERE local_date <= ? AND {allow} "
           "AND resident_id IS NOT NULL GROUP BY resident_id, device_id, checkpoint "
           "ORDER BY resident_id, device_id, checkpoint")
    wanted = set(checkpoints) if checkpoints else None
    moved: dict[str, set[int]] = {}  # checkpoint -> residents with an allowed movement that day
    last: dict[int, tuple[str, str, str]] = {}  # resident -> (wall, direction, checkpoint)
    device_last: tuple[Any, ...] | None = None  # (resident, device, seq, wall, dir, checkpoint)

    def settle(d: tuple[Any, ...]) -> None:
        # the latest of the devices' last movements by wall clock (the first device on a tie)
        resident, _device, _seq, wall, direction, checkpoint = d
        if resident not in last or wall > last[resident][0]:
            last[resident] = (wall, direction, checkpoint)

    for resident, device, checkpoint, seq, direction, wall, on_day in cur.execute(
            sql, [day.isoformat(), day.isoformat()]):
        if on_day and (wanted is None or checkpoint in wanted):
            moved.setdefault(checkpoint, set()).add(resident)
        if device_last is not None and device_last[:2] == (resident, device):
            if seq > device_last[2]:
                device_last = (resident, device, seq, wall, direction, checkpoint)
            continue
        if device_last is not None:
            settle(device_last)
        device_last = (resident, device, seq, wall, direction, checkpoint)
    if device_last is not None:
        settle(device_last)
    for checkpoint, residents in moved.items():
        out.setdefault(checkpoint, empty_counts())["unique_residents"] = len(residents)
    for _wall, direction, checkpoint in last.values():
        if direction != "out" or (wanted is not None and checkpoint not in wanted):
            continue
        out.setdefault(checkpoint, empty_counts())["still_out"] += 1
    if len(out) > 1:
        total = empty_counts()
        for counts in out.values():
            for k, v in counts.items():
                total[k] += v
        total["unique_residents"] = len(set().union(*moved.values()))
        out[TOTAL] = total
    return out


def frozen_summary(cur: sqlite3.Cursor, day: date) -> dict[str, dict[str, int]]:
    """Counts frozen by retention for a day whose personal fields were wiped ({} if none)."""
    out: dict[str, dict[str, int]] = {}
    rows = cur.execute("SELECT checkpoint, counts FROM daily_summaries WHERE local_date = ?",
                       [day.isoformat()]).fetchall()
    for checkpoint, text in rows:
        counts = empty_counts()
        counts.update({k: int(v) for k, v in json.loads(text).items() if k in counts})
        out[checkpoint] = counts
    return out


def day_summary(cur: sqlite3.Cursor, day: date,
                checkpoints: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """Frozen counts when retention has frozen the day, else counts from the events."""
    frozen = frozen_summary(cur, day)
    if frozen:
        if checkpoints:
            frozen = {k: v for k, v in frozen.items() if k in checkpoints}
        if len([k for k in frozen if k != TOTAL]) <= 1:
            frozen.pop(TOTAL, None)
        return frozen
    return live_summary(cur, day, checkpoints)


def write_summary(cur: sqlite3.Cursor, path: Path, day: date, *, label: str, lang: str,
                  checkpoints: Sequence[str] | None) -> WrittenFile:
    """The summary file: one row per checkpoint (``label``'s zeros on a quiet day), then the
    total row when there are several."""
    counts = day_summary(cur, day, checkpoints)
    if not counts:
        counts = {label: empty_counts()}  # a quiet day still reports its zeros
    order = sorted(k for k in counts if k != TOTAL) + ([TOTAL] if TOTAL in counts else [])
    head = header((Label("date", "日期", "date"), Label("checkpoint", "卡口", "checkpoint"),
                   *SUMMARY_COUNTS), lang)
    rows = [[day.isoformat(), cp if cp != TOTAL else ("合计" if lang == "zh" else "total"),
             *(counts[cp][k] for k in SUMMARY_KEYS)] for cp in order]
    return write_csv(path, head, rows)
