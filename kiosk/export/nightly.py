"""The nightly report to the district command: movements, daily summary and manifest.

For one local date the export writes, into one directory:

* ``movements_<checkpoint>_<date>.csv``: one row per gate event (docs/EXPORT.md);
* ``summary_<checkpoint>_<date>.csv``: the day's counts per checkpoint (and a total row when
  the store holds several checkpoints, as the central store does);
* ``manifest_<checkpoint>_<date>.json``: rows, bytes and SHA-256 of each file, the event
  sequence range of each device, export time, software version;
* ``SHA256SUMS_<checkpoint>_<date>.txt``: the same hashes for ``sha256sum -c``.

Speed and memory: the movement rows are shaped entirely in SQL (local time, masking,
formula neutralisation, reason texts, numbers as the text Python would write) and handed in
chunks from the SQLite cursor to csvfile.FastRows, which joins each chunk in a few C calls and
checks it (the csv module writes a chunk it cannot vouch for), so memory stays flat in the
number of rows and Python does no per-row work. The SQL masks are checked against
kiosk.core.privacy, FastRows against the csv module, by the tests. The summary takes two more
passes (docs/BENCHMARKS_export.md).

Everything is read in one read transaction, so the files, the counts and the manifest
describe the same snapshot even while the gate keeps recording.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, delete, func, insert, select

from kiosk import __version__
from kiosk.core.messages import MESSAGES, Reason
from kiosk.export.csvfile import (
    FORMULA_STARTS,
    FastRows,
    SafeCsvWriter,
    WrittenFile,
    sha256_file,
    write_csv,
)
from kiosk.store import audit
from kiosk.store.models import ExportRunRow, GateEventRow

RUNS = ExportRunRow.__table__
E = GateEventRow.__table__
MANIFEST_FORMAT = "checkpoint-kiosk-export/1"
#: rows fetched from SQLite and written per step (bounded memory, few Python calls)
CHUNK_ROWS = 5000
#: label of the summary row that adds up all checkpoints
TOTAL = "*"


class ExportError(Exception):
    """The export could not be written; the message says why (shown on the gate screen)."""


# --- columns --------------------------------------------------------------------------------
#: (key, Chinese header, English header) of the movement file, in file order
MOVEMENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("time", "时间", "time"),
    ("checkpoint", "卡口", "checkpoint"),
    ("direction", "方向", "direction"),
    ("person", "姓名", "person"),
    ("person_type", "人员类型", "person_type"),
    ("phone", "电话", "phone"),
    ("building", "楼栋", "building"),
    ("unit", "单元", "unit"),
    ("room", "房号", "room"),
    ("pass_kind", "通行证类别", "pass_kind"),
    ("pass_number", "通行证号", "pass_number"),
    ("temp1_c", "体温1(°C)", "temp1_c"),
    ("temp1_source", "体温1来源", "temp1_source"),
    ("temp2_c", "体温2(°C)", "temp2_c"),
    ("temp2_source", "体温2来源", "temp2_source"),
    ("decision", "结果", "decision"),
    ("reason", "原因代码", "reason"),
    ("reason_zh", "原因(中文)", "reason_zh"),
    ("reason_en", "原因(英文)", "reason_en"),
    ("escalated", "已上报", "escalated"),
    ("volunteer", "值守人员", "volunteer"),
    ("clock", "时钟状态", "clock"),
    ("event_id", "事件编号", "event_id"),
    ("device_id", "设备编号", "device_id"),
    ("seq", "序号", "seq"),
    ("corrects_event_id", "更正的事件", "corrects_event_id"),
)

#: short Chinese labels of the denial reasons in the summary header
_REASON_ZH = {
    Reason.UNKNOWN_PASS: "无证", Reason.FORGED: "伪造", Reason.EXPIRED: "过期",
    Reason.NOT_YET_VALID: "未生效", Reason.REVOKED: "作废", Reason.WRONG_KIND: "类别不符",
    Reason.WRONG_HOUR: "时段不符", Reason.FEVER_REMEASURE: "体温复测", Reason.FEVER: "发热",
    Reason.READING_INVALID: "体温无效", Reason.QUOTA_USED: "次数用完",
}
DENY_REASONS = tuple(r for r in Reason if r is not Reason.OK)

#: (key, Chinese header, English header) of the daily counts, in file order
SUMMARY_COUNTS: tuple[tuple[str, str, str], ...] = (
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
)
SUMMARY_KEYS = tuple(k for k, _, _ in SUMMARY_COUNTS)


def header(columns: Sequence[tuple[str, str, str]], lang: str) -> list[str]:
    return [zh if lang == "zh" else en for _, zh, en in columns]


# --- SQL pieces: the same rules as kiosk.core.privacy and csvfile.neutralise -------------------
# Written to be cheap per row (SQLite evaluates them for every exported event): the first
# character is tested by its code point (unicode()), and names are not trimmed again (the
# importer and the gate store them trimmed; a stray space at an end would be masked like a
# letter, which never shows more than Python's mask would).
#: enough '*' for the longest name or number column (String(100))
_STARS = "'" + "*" * 100 + "'"
_QUOTE = "''''"  # SQL for the text '


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


#: code points of the formula-start characters, as an SQL list
_SQL_DANGER = ",".join(str(ord(c)) for c in sorted(FORMULA_STARTS))


def _danger(x: str) -> str:
    return f"unicode({x}) IN ({_SQL_DANGER})"


def sql_neutralise(x: str) -> str:
    """SQL for csvfile.neutralise(x) on a text value (NULL stays NULL)."""
    return f"CASE WHEN {_danger(x)} THEN {_QUOTE} || {x} ELSE {x} END"


def sql_mask_name(x: str, *, neutralise: bool = True) -> str:
    """SQL for neutralise(kiosk.core.privacy.mask_name(x)) on a trimmed name (NULL stays
    NULL). The masked name starts with the name's first character, so that character decides
    the neutralising."""
    masked = (f"CASE WHEN length({x}) > 2 THEN substr({x},1,1) || "
              f"substr({_STARS},1,length({x})-2) || substr({x},-1) "
              f"WHEN length({x}) = 2 THEN substr({x},1,1) || '*' ELSE {x} END")
    if not neutralise:
        return masked
    return f"CASE WHEN {_danger(x)} THEN {_QUOTE} ELSE '' END || {masked}"


def sql_mask_phone(x: str, *, neutralise: bool = True) -> str:
    """SQL for neutralise(kiosk.core.privacy.mask_phone(x)) on a trimmed number (NULL stays
    NULL)."""
    masked = (f"CASE WHEN length({x}) >= 11 THEN substr({x},1,3) || "
              f"substr({_STARS},1,length({x})-7) || substr({x},-4) "
              f"WHEN length({x}) > 2 THEN substr({_STARS},1,length({x})-2) || substr({x},-2) "
              f"ELSE {x} END")
    if not neutralise:
        return masked
    keeps_first = f"(length({x}) >= 11 OR length({x}) <= 2)"
    return (f"CASE WHEN {_danger(x)} AND {keeps_first} THEN {_QUOTE} ELSE '' END"
            f" || {masked}")


def mask_pass_number(number: str) -> str:
    """R20230001 -> R******01: the kind letter and the last two characters stay, so a
    volunteer can match a row to a paper without the number being reusable."""
    if len(number) <= 4:
        return "*" * len(number)
    return number[0] + "*" * (len(number) - 3) + number[-2:]


def sql_mask_pass_number(x: str, *, neutralise: bool = True) -> str:
    """SQL for neutralise(mask_pass_number(x)) (NULL stays NULL)."""
    masked = (f"CASE WHEN length({x}) <= 4 THEN substr({_STARS},1,length({x})) "
              f"ELSE substr({x},1,1) || substr({_STARS},1,length({x})-3) || substr({x},-2) END")
    if not neutralise:
        return masked
    return (f"CASE WHEN {_danger(x)} AND length({x}) > 4 THEN {_QUOTE} "
            f"ELSE '' END || {masked}")


def _messages_cte() -> str:
    rows = ", ".join(f"({_sql_str(r.value)}, {_sql_str(m.zh)}, {_sql_str(m.en)})"
                     for r, m in MESSAGES.items())
    return f"WITH msg(code, zh, en) AS (VALUES {rows})"


def _sql_integer_text(x: str) -> str:
    """An integer as text (what Python's str() writes for it); anything else as it is."""
    return f"CASE typeof({x}) WHEN 'integer' THEN CAST({x} AS TEXT) ELSE {x} END"


def _sql_temperature_text(x: str) -> str:
    """round(x, 2) as text where SQLite writes it as Python's repr() does (2 decimals below
    1000, checked by the tests); anything else (-0.0, huge values) as the REAL, for Python."""
    return (f"CASE WHEN {x} > 0 AND {x} < 1000 THEN CAST(round({x}, 2) AS TEXT) "
            f"ELSE round({x}, 2) END")


def movements_sql(mask: bool, checkpoints: Sequence[str] | None = None) -> str:
    """The SELECT that yields the movement rows, ready for the CSV writer, one parameter
    (the local date) then one per checkpoint. Used by the benchmark with the sqlite3 CLI too."""
    n = sql_neutralise
    person_sql = "COALESCE(r.name, e.visitor_name)"
    phone_sql = "COALESCE(r.phone, e.visitor_phone)"
    if mask:
        person = sql_mask_name(person_sql)
        phone = sql_mask_phone(phone_sql)
        pass_number = sql_mask_pass_number("e.pass_number")
    else:
        person, phone, pass_number = n(person_sql), n(phone_sql), n("e.pass_number")
    where = "e.local_date = ?"
    if checkpoints:
        where += f" AND e.checkpoint IN ({','.join('?' * len(checkpoints))})"
    exprs = {
        "time": "strftime('%Y-%m-%d %H:%M:%S', e.wall_utc, e.utc_offset_min || ' minutes')",
        "checkpoint": n("e.checkpoint"),
        "direction": "e.direction",
        "person": person,
        "person_type": """CASE WHEN e.resident_id IS NOT NULL THEN 'resident'
       WHEN e.visitor_name IS NOT NULL AND e.visitor_name != '' THEN 'visitor'
       WHEN e.pass_number IS NOT NULL AND e.pass_number != '' THEN 'pass'
       ELSE '' END""",
        "phone": phone,
        "building": n("COALESCE(r.building, e.host_building)"),
        "unit": n("r.unit"),
        "room": n("r.room"),
        "pass_kind": n("e.pass_kind"),
        "pass_number": pass_number,
        "temp1_c": _sql_temperature_text("r1.used_c"),
        "temp1_source": "r1.source",
        "temp2_c": _sql_temperature_text("r2.used_c"),
        "temp2_source": "r2.source",
        "decision": "e.outcome",
        "reason": "e.reason",
        "reason_zh": "msg.zh",
        "reason_en": "msg.en",
        "escalated": _sql_integer_text("e.escalated"),
        "volunteer": n("v.name"),
        "clock": "e.clock_state",
        "event_id": "e.id",
        "device_id": n("e.device_id"),
        "seq": _sql_integer_text("e.seq"),
        "corrects_event_id": "e.corrects_event_id",
    }
    # NULL is written as an empty cell either way, and numbers are given as the text Python
    # would write for them: then csvfile.FastRows can join the rows as they come (the sqlite3
    # CLI writes the same cells from this SELECT)
    columns = ",\n  ".join(f"ifnull({exprs[key]}, '') AS {key}" for key, _, _ in MOVEMENT_COLUMNS)
    return f"""{_messages_cte()}
SELECT
  {columns}
FROM gate_events AS e
LEFT JOIN residents AS r ON r.id = e.resident_id
LEFT JOIN volunteers AS v ON v.id = e.volunteer_id
LEFT JOIN readings AS r1 ON r1.event_id = e.id AND r1.ordinal = 1
LEFT JOIN readings AS r2 ON r2.event_id = e.id AND r2.ordinal = 2
LEFT JOIN msg ON msg.code = e.reason
WHERE {where}
ORDER BY e.local_date, e.checkpoint, e.device_id, e.seq"""


# --- the daily summary ------------------------------------------------------------------------
def _empty_counts() -> dict[str, int]:
    return dict.fromkeys(SUMMARY_KEYS, 0)


def _day_filter(checkpoints: Sequence[str] | None, op: str = "=") -> tuple[str, str]:
    where = f"local_date {op} ?"
    cp = ""
    if checkpoints:
        cp = f" AND checkpoint IN ({','.join('?' * len(checkpoints))})"
    return where, cp


def live_summary(cur: sqlite3.Cursor, day: date,
                 checkpoints: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
    """The day's counts computed from the events: {checkpoint: counts}, plus TOTAL.

    * entries / exits: allowed movements in / out;
    * unique_residents: distinct residents with an allowed movement that day;
    * visitors: events with a visitor name; remeasures: 're-measure' outcomes;
    * confirmed_fevers: escalated events (a fever, whatever the papers' reason); denials
      and deny_<reason>: 'deny' outcomes;
    * still_out: residents whose last allowed movement up to the end of the day (over all
      time) was OUT, counted at the checkpoint of that movement.

    Two passes: the day's events once (in the order of the day index, so grouping by
    checkpoint needs no sort), and the allowed movements of residents up to that day once,
    which gives both "still out" and the unique residents. TOTAL adds up the checkpoints
    (unique residents: distinct over all of them); it is kept only for several checkpoints.
    """
    where, cp = _day_filter(checkpoints)
    params: list[Any] = [day.isoformat(), *(checkpoints or ())]
    out: dict[str, dict[str, int]] = {}
    deny_known = [f"deny_{r.value}" for r in DENY_REASONS]
    deny_sql = "".join(f",\n  count(*) FILTER (WHERE outcome = 'deny' AND reason = "
                       f"{_sql_str(r.value)})" for r in DENY_REASONS)
    sql = f"""SELECT checkpoint,
  count(*) FILTER (WHERE outcome = 'allow' AND direction = 'in'),
  count(*) FILTER (WHERE outcome = 'allow' AND direction = 'out'),
  count(*) FILTER (WHERE visitor_name != ''),
  count(*) FILTER (WHERE escalated),
  count(*) FILTER (WHERE outcome = 'remeasure'),
  count(*) FILTER (WHERE outcome = 'deny'){deny_sql}
FROM gate_events WHERE {where}{cp} GROUP BY checkpoint"""
    day_keys = ("entries", "exits", "visitors", "confirmed_fevers", "remeasures", "denials",
                *deny_known)
    for checkpoint, *values in cur.execute(sql, params):
        counts = out[checkpoint] = _empty_counts()
        counts.update(zip(day_keys, values, strict=True))
        counts["deny_other"] = counts["denials"] - sum(counts[k] for k in deny_known)

    # each resident's allowed movements up to the day's end, per device and checkpoint: the
    # last one (seq is the true order on a device) and whether any was on the day itself
    sql = ("SELECT resident_id, device_id, checkpoint, max(seq), direction, wall_utc, "
           "count(*) FILTER (WHERE local_date = ?) "
           "FROM gate_events WHERE local_date <= ? AND outcome = 'allow' "
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
        out.setdefault(checkpoint, _empty_counts())["unique_residents"] = len(residents)
    for _wall, direction, checkpoint in last.values():
        if direction != "out" or (wanted is not None and checkpoint not in wanted):
            continue
        out.setdefault(checkpoint, _empty_counts())["still_out"] += 1
    if len(out) > 1:
        total = _empty_counts()
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
        counts = _empty_counts()
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


# --- the export -------------------------------------------------------------------------------
ProgressFn = Callable[[int], None]


@dataclass
class ExportOptions:
    """How to export. ``label`` names the files (the kiosk's checkpoint id, or e.g.
    "district" on the central store); ``checkpoints`` limits the rows (None: all)."""

    label: str
    checkpoints: Sequence[str] | None = None
    lang: str = "zh"
    mask: bool = True
    #: called with the number of movement rows just written (for a progress bar)
    progress: ProgressFn | None = None
    #: who asked (audit log): a volunteer's name, "scheduler" or "cli:<user>"
    actor: str = "scheduler"
    chunk_rows: int = CHUNK_ROWS


@dataclass
class ExportResult:
    day: date
    directory: Path
    files: list[WrittenFile]
    manifest: Path
    sums: Path
    events: int
    devices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_paths(self) -> list[Path]:
        return [f.path for f in self.files] + [self.manifest, self.sums]


_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_label(label: str) -> str:
    """A checkpoint id made safe as part of a file name on Windows and Linux."""
    cleaned = _UNSAFE_FILENAME.sub("_", unicodedata.normalize("NFC", label.strip()))
    return cleaned.strip(". ") or "kiosk"


def file_names(label: str, day: date) -> dict[str, str]:
    stem = f"{safe_label(label)}_{day.isoformat()}"
    return {"movements": f"movements_{stem}.csv", "summary": f"summary_{stem}.csv",
            "manifest": f"manifest_{stem}.json", "sums": f"SHA256SUMS_{stem}.txt"}


#: the reason texts: few distinct values, with commas; csvfile.FastRows writes them into its
#: formats
_BAKED_COLUMNS = tuple(i for i, (k, _, _) in enumerate(MOVEMENT_COLUMNS)
                       if k in ("reason_zh", "reason_en"))


def _write_movements(cur: sqlite3.Cursor, path: Path, day: date, opts: ExportOptions) -> \
        WrittenFile:
    params = [day.isoformat(), *(opts.checkpoints or ())]
    fast = FastRows(len(MOVEMENT_COLUMNS), baked=_BAKED_COLUMNS)
    with SafeCsvWriter(path, header(MOVEMENT_COLUMNS, opts.lang)) as w:
        cur.execute(movements_sql(opts.mask, opts.checkpoints), params)
        while True:
            rows = cur.fetchmany(opts.chunk_rows)
            if not rows:
                break
            w.write_safe_rows(rows, fast)
            if opts.progress is not None:
                opts.progress(len(rows))
        return w.close()


def _write_summary(cur: sqlite3.Cursor, path: Path, day: date, opts: ExportOptions) -> \
        WrittenFile:
    counts = day_summary(cur, day, opts.checkpoints)
    if not counts:
        counts = {opts.label: _empty_counts()}  # a quiet day still reports its zeros
    order = sorted(k for k in counts if k != TOTAL) + ([TOTAL] if TOTAL in counts else [])
    head = header((("date", "日期", "date"), ("checkpoint", "卡口", "checkpoint"),
                   *SUMMARY_COUNTS), opts.lang)
    rows = [[day.isoformat(), cp if cp != TOTAL else ("合计" if opts.lang == "zh" else "total"),
             *(counts[cp][k] for k in SUMMARY_KEYS)] for cp in order]
    return write_csv(path, head, rows)


def count_events(cur: sqlite3.Cursor, day: date, checkpoints: Sequence[str] | None) \
        -> int:
    where, cp = _day_filter(checkpoints)
    row = cur.execute(f"SELECT count(*) FROM gate_events WHERE {where}{cp}",
                      [day.isoformat(), *(checkpoints or ())]).fetchone()
    return int(row[0])


def _device_ranges(cur: sqlite3.Cursor, day: date,
                   checkpoints: Sequence[str] | None) -> list[dict[str, Any]]:
    """Each device's first and last seq and number of events that day, by device id. Grouped
    by checkpoint too, the order of the day index, so no sort; a device seen at several
    checkpoints that day (rare) is asked again by device alone."""
    where, cp = _day_filter(checkpoints)
    params = [day.isoformat(), *(checkpoints or ())]
    rows = cur.execute(f"SELECT device_id, min(seq), max(seq), count(*) FROM gate_events "
                       f"WHERE {where}{cp} GROUP BY checkpoint, device_id", params).fetchall()
    devices = [r[0] for r in rows]
    if len(set(devices)) == len(devices) and all(isinstance(d, str) for d in devices):
        rows.sort(key=lambda r: r[0])  # code point order = SQLite's (UTF-8 byte) order
    else:
        rows = cur.execute(f"SELECT device_id, min(seq), max(seq), count(*) FROM gate_events "
                           f"WHERE {where}{cp} GROUP BY device_id ORDER BY device_id",
                           params).fetchall()
    return [{"device_id": d, "first_seq": lo, "last_seq": hi, "events": n}
            for d, lo, hi, n in rows]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def export_day(engine: Engine, day: date, out_dir: Path, opts: ExportOptions,
               *, before_read: Callable[[sqlite3.Cursor, int], None] | None = None,
               now: Callable[[], datetime] = datetime.now) -> ExportResult:
    """Write the day's files into ``out_dir`` and record the run (export_runs) and who ran it
    (audit_log). Raises ExportError, after recording the failed run, when it cannot.

    ``before_read`` is called with the cursor and the number of events before the rows are
    read (the CLI sizes its progress bar with it).
    """
    names = file_names(opts.label, day)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        raw = engine.raw_connection()
        try:
            cur = cast(sqlite3.Cursor, raw.cursor())
            cur.execute("BEGIN")  # one snapshot for files, counts and manifest
            try:
                devices = _device_ranges(cur, day, opts.checkpoints)
                if before_read is not None:
                    before_read(cur, sum(d["events"] for d in devices))
                movements = _write_movements(cur, out_dir / names["movements"], day, opts)
                summary = _write_summary(cur, out_dir / names["summary"], day, opts)
            finally:
                cur.execute("ROLLBACK")
                cur.close()
        finally:
            raw.close()
        files = [movements, summary]
        manifest = {
            "format": MANIFEST_FORMAT,
            "date": day.isoformat(),
            "checkpoint": opts.label,
            "checkpoints": list(opts.checkpoints) if opts.checkpoints else None,
            "exported_at": now().astimezone().isoformat(timespec="seconds"),
            "software": "checkpoint-kiosk",
            "software_version": __version__,
            "header_language": opts.lang,
            "masked": opts.mask,
            "events": movements.rows,
            "files": [{"name": f.path.name, "rows": f.rows, "bytes": f.bytes,
                       "sha256": f.sha256} for f in files],
            "devices": devices,
        }
        manifest_path = out_dir / names["manifest"]
        _write_text(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        sums = out_dir / names["sums"]
        lines = [f"{f.sha256}  {f.path.name}" for f in files]
        lines.append(f"{sha256_file(manifest_path)}  {manifest_path.name}")
        _write_text(sums, "\n".join(lines) + "\n")
    except (OSError, sqlite3.Error) as exc:
        record_run(engine, day, out_dir, "failed", f"{type(exc).__name__}: {exc}", now())
        raise ExportError(f"export of {day} to {out_dir} failed: {exc}") from exc
    detail = {"date": day.isoformat(), "directory": str(out_dir), "events": movements.rows,
              "masked": opts.mask, "label": opts.label}
    record_run(engine, day, out_dir, "ok", json.dumps({"events": movements.rows}), now(),
               actor=opts.actor,
               audit_action=audit.EXPORT if opts.mask else audit.EXPORT_UNMASKED,
               audit_detail=detail)
    return ExportResult(day, out_dir, files, manifest_path, sums, movements.rows, devices)


def record_run(engine: Engine, day: date, directory: Path, status: str, detail: str,
               at: datetime, *, actor: str | None = None, audit_action: str | None = None,
               audit_detail: dict[str, Any] | None = None) -> None:
    """Remember the night's export (the latest attempt per date) and audit it, together."""
    with engine.connect().execution_options(sqlite_immediate=True) as conn:
        conn.execute(delete(ExportRunRow).where(ExportRunRow.local_date == day))
        conn.execute(insert(ExportRunRow).values(local_date=day, finished_at=at,
                                         directory=str(directory), status=status,
                                         detail=detail))
        if actor is not None and audit_action is not None:
            audit.record_in(conn, actor, audit_action, audit_detail or {}, at)
        conn.commit()


def last_exported(engine: Engine) -> date | None:
    """The latest local date whose export succeeded (None: never exported)."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(RUNS.c.local_date))
                            .where(RUNS.c.status == "ok")).scalar()


def first_event_date(engine: Engine) -> date | None:
    """The local date of the oldest event (where a first catch-up starts)."""
    with engine.connect() as conn:
        return conn.execute(select(func.min(E.c.local_date))).scalar()
