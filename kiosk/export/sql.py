"""The export's rules as SQL, generated from their one definition: the masks from
kiosk.core.privacy's rules, formula neutralising from csvfile.FORMULA_STARTS.

The movement rows are shaped entirely in SQL so that Python does no per-row work (and so that
the sqlite3 CLI can run the very same SELECT as the benchmark's reference); calling the Python
functions from SQLite (``create_function``) would cost a Python call per cell. The generated
SQL is cheap per row: the first character is tested by its code point (``unicode()``), and
values are not trimmed again (the importer and the gate store them trimmed). A property test
(tests/export/test_export_sql_rules.py) proves SQL and Python agree.
"""

from __future__ import annotations

from kiosk.core.privacy import Mask
from kiosk.export.csvfile import FORMULA_STARTS

#: enough '*' for the longest name or number column (String(100))
_STARS = "'" + "*" * 100 + "'"
_QUOTE = "''''"  # SQL for the text '
#: code points of the formula-start characters, as an SQL list
_DANGER = ",".join(str(ord(c)) for c in sorted(FORMULA_STARTS))


def sql_str(s: str) -> str:
    """A Python string as an SQL literal."""
    return "'" + s.replace("'", "''") + "'"


def _danger(x: str) -> str:
    return f"unicode({x}) IN ({_DANGER})"


def sql_neutralise(x: str) -> str:
    """SQL for csvfile.neutralise(x) on a text value (NULL stays NULL)."""
    return f"CASE WHEN {_danger(x)} THEN {_QUOTE} || {x} ELSE {x} END"


def _shown(head: int, tail: int, x: str) -> str:
    parts = []
    if head:
        parts.append(f"substr({x},1,{head})")
    parts.append(f"substr({_STARS},1,length({x})-{head + tail})")
    if tail:
        parts.append(f"substr({x},-{tail})")
    return " || ".join(parts)


def sql_mask(mask: Mask, x: str, *, neutralise: bool = True) -> str:
    """SQL for ``neutralise(mask(x))`` on a trimmed text (NULL stays NULL).

    One CASE branch per rule, longest first; a value shorter than its rule's head + tail is
    shown whole. The masked text starts with x's first character unless a rule with no head
    puts a '*' first; only then is the neutralising left out.
    """
    whens = []
    hidden = []  # length ranges [lo, hi) whose masked text starts with '*'
    upper: int | None = None
    for shortest, head, tail in reversed(mask.rules):
        if head + tail > shortest:
            whens.append(f"WHEN length({x}) >= {head + tail} THEN {_shown(head, tail, x)}")
            whens.append(f"WHEN length({x}) >= {shortest} THEN {x}")
        else:
            whens.append(f"WHEN length({x}) >= {shortest} THEN {_shown(head, tail, x)}")
        if head == 0:
            lo = max(shortest, tail + 1)
            if upper is None or lo < upper:
                hidden.append((lo, upper))
        upper = shortest
    if mask.whole:  # values that name nobody: shown as they are
        whens.insert(0, f"WHEN {x} IN ({','.join(sql_str(w) for w in sorted(mask.whole))}) "
                        f"THEN {x}")
    masked = f"CASE {' '.join(whens)} ELSE {x} END"
    if not neutralise:
        return masked
    first_shown = _danger(x)
    for lo, hi in hidden:
        inside = f"length({x}) >= {lo}" + (f" AND length({x}) < {hi}" if hi is not None else "")
        first_shown += f" AND NOT ({inside})"
    return f"CASE WHEN {first_shown} THEN {_QUOTE} ELSE '' END || {masked}"


def sql_integer_text(x: str) -> str:
    """An integer as text (what Python's str() writes for it); text neutralised; anything else
    as it is."""
    return (f"CASE typeof({x}) WHEN 'integer' THEN CAST({x} AS TEXT) "
            f"WHEN 'text' THEN {sql_neutralise(x)} ELSE {x} END")


def sql_temperature_text(x: str) -> str:
    """round(x, 2) as text where SQLite writes it as Python's repr() does (2 decimals below
    1000, checked by the tests); anything else (-0.0, huge values) as the REAL, for Python.
    Text compares greater than any number in SQLite, so a text value takes the ELSE branch
    and becomes a number (round() of text), never a formula."""
    return (f"CASE WHEN {x} > 0 AND {x} < 1000 THEN CAST(round({x}, 2) AS TEXT) "
            f"ELSE round({x}, 2) END")
