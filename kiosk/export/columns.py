"""The movement file's columns: ONE list, in file order. A new CSV column is one entry here
(and its line in docs/EXPORT.md).

Each entry names the value (an SQL expression over the joined tables below) and what kind of
cell it is; how the cell is made safe follows from the kind, so no column can forget it:

* TEXT: any stored text, neutralised (a leading ' before = + - @ tab CR ...), masked in the
  masked export when the entry has a mask (kiosk.core.privacy's rules, as SQL);
* INTEGER / TEMPERATURE: numbers written as the text Python writes for them; a text value
  that got there anyway is neutralised (INTEGER) or becomes a number (TEMPERATURE);
* OURS: text the SELECT makes from the software's own constants (a fixed CASE, strftime),
  never from a stored value.

Every cell is wrapped in ``ifnull(x, '')``: NULL is an empty cell, and csvfile.FastRows can
join the rows as they come (the sqlite3 CLI writes the same cells from this SELECT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol

from kiosk.core import privacy
from kiosk.core.messages import MESSAGES
from kiosk.export.csvfile import neutralise
from kiosk.export.sql import (
    sql_integer_text,
    sql_mask,
    sql_neutralise,
    sql_str,
    sql_temperature_text,
)


class Cell(Enum):
    """What a column holds, which decides how its cells are made safe."""

    TEXT = "text"
    INTEGER = "integer"
    TEMPERATURE = "temperature"
    OURS = "ours"


@dataclass(frozen=True, slots=True)
class Column:
    """One movement column: key, Chinese and English header, SQL value, kind, mask."""

    key: str
    zh: str
    en: str
    sql: str
    cell: Cell = Cell.TEXT
    #: applied in the masked export (TEXT only)
    mask: privacy.Mask | None = None

    def select(self, masked: bool) -> str:
        """The SQL for this column's cell, never NULL."""
        x = self.sql
        if self.cell is Cell.INTEGER:
            expr = sql_integer_text(x)
        elif self.cell is Cell.TEMPERATURE:
            expr = sql_temperature_text(x)
        elif self.cell is Cell.OURS:
            expr = x
        elif masked and self.mask is not None:
            expr = sql_mask(self.mask, x)
        else:
            expr = sql_neutralise(x)
        return f"ifnull({expr}, '')"


_PERSON_TYPE = """CASE WHEN e.resident_id IS NOT NULL THEN 'resident'
       WHEN e.visitor_name IS NOT NULL AND e.visitor_name != '' THEN 'visitor'
       WHEN e.pass_number IS NOT NULL AND e.pass_number != '' THEN 'pass'
       ELSE '' END"""

#: the movement file's columns, in file order (docs/EXPORT.md numbers them from 1)
MOVEMENTS: tuple[Column, ...] = (
    Column("time", "时间", "time",
           "strftime('%Y-%m-%d %H:%M:%S', e.wall_utc, e.utc_offset_min || ' minutes')",
           Cell.OURS),
    Column("checkpoint", "卡口", "checkpoint", "e.checkpoint"),
    Column("direction", "方向", "direction", "e.direction"),
    Column("person", "姓名", "person", "COALESCE(r.name, e.visitor_name)",
           mask=privacy.NAME),
    Column("person_type", "人员类型", "person_type", _PERSON_TYPE, Cell.OURS),
    Column("phone", "电话", "phone", "COALESCE(r.phone, e.visitor_phone)",
           mask=privacy.PHONE),
    Column("building", "楼栋", "building", "COALESCE(r.building, e.host_building)"),
    Column("unit", "单元", "unit", "r.unit"),
    Column("room", "房号", "room", "r.room"),
    Column("pass_kind", "通行证类别", "pass_kind", "e.pass_kind"),
    Column("pass_number", "通行证号", "pass_number", "e.pass_number",
           mask=privacy.PASS_NUMBER),
    Column("temp1_c", "体温1(°C)", "temp1_c", "r1.used_c", Cell.TEMPERATURE),
    Column("temp1_source", "体温1来源", "temp1_source", "r1.source"),
    Column("temp2_c", "体温2(°C)", "temp2_c", "r2.used_c", Cell.TEMPERATURE),
    Column("temp2_source", "体温2来源", "temp2_source", "r2.source"),
    Column("decision", "结果", "decision", "e.outcome"),
    Column("reason", "原因代码", "reason", "e.reason"),
    Column("reason_zh", "原因(中文)", "reason_zh", "msg.zh", Cell.OURS),
    Column("reason_en", "原因(英文)", "reason_en", "msg.en", Cell.OURS),
    Column("escalated", "已上报", "escalated", "e.escalated", Cell.INTEGER),
    Column("volunteer", "值守人员", "volunteer", "v.name"),
    Column("clock", "时钟状态", "clock", "e.clock_state"),
    Column("event_id", "事件编号", "event_id", "e.id"),
    Column("device_id", "设备编号", "device_id", "e.device_id"),
    Column("seq", "序号", "seq", "e.seq", Cell.INTEGER),
    Column("corrects_event_id", "更正的事件", "corrects_event_id", "e.corrects_event_id"),
    # the original stays in the file (records are append-only), marked with its correction
    Column("undone_by", "已被撤销", "undone_by", "u.id"),
    # an acknowledgement of a fever: who was called (the team leader, the phone)
    Column("note", "备注", "note", "e.note"),
)

#: the reason texts: few distinct values, with commas; csvfile.FastRows writes them into its
#: formats
BAKED = tuple(i for i, c in enumerate(MOVEMENTS) if c.key in ("reason_zh", "reason_en"))


class Labelled(Protocol):
    """A column with a Chinese and an English header."""

    @property
    def zh(self) -> str: ...

    @property
    def en(self) -> str: ...


class Label(NamedTuple):
    """A column known by its key and headers alone (the summary's counts)."""

    key: str
    zh: str
    en: str


def header(columns: Sequence[Labelled], lang: str) -> list[str]:
    """The header row in ``lang`` ("zh" or "en")."""
    return [c.zh if lang == "zh" else c.en for c in columns]


def _messages_cte() -> str:
    # the reason texts are the software's own; neutralised here anyway, once, not per row
    rows = ", ".join(f"({sql_str(r.value)}, {sql_str(neutralise(m.zh))}, "
                     f"{sql_str(neutralise(m.en))})" for r, m in MESSAGES.items())
    return f"WITH msg(code, zh, en) AS (VALUES {rows})"


def movements_sql(mask: bool, checkpoints: Sequence[str] | None = None) -> str:
    """The SELECT that yields the movement rows, ready for the CSV writer, one parameter
    (the local date) then one per checkpoint. Used by the benchmark with the sqlite3 CLI too."""
    where = "e.local_date = ?"
    if checkpoints:
        where += f" AND e.checkpoint IN ({','.join('?' * len(checkpoints))})"
    columns = ",\n  ".join(f"{c.select(mask)} AS {c.key}" for c in MOVEMENTS)
    return f"""{_messages_cte()}
SELECT
  {columns}
FROM gate_events AS e
LEFT JOIN residents AS r ON r.id = e.resident_id
LEFT JOIN volunteers AS v ON v.id = e.volunteer_id
LEFT JOIN readings AS r1 ON r1.event_id = e.id AND r1.ordinal = 1
LEFT JOIN readings AS r2 ON r2.event_id = e.id AND r2.ordinal = 2
LEFT JOIN msg ON msg.code = e.reason
LEFT JOIN gate_events AS u ON u.corrects_event_id = e.id
WHERE {where}
ORDER BY e.local_date, e.checkpoint, e.device_id, e.seq"""
