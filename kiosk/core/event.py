"""The gate event: one typed record, its limits, and its one codec.

A gate event (with its readings) is defined here once. Every field's limit (length,
enumeration, range, UUID form) is part of the type, so the kiosk cannot record an event the
central store would refuse, and the central store accepts exactly what a kiosk can record.

The record has three forms, all made here:

* the **typed** form, :class:`GateEvent`, checked against its limits when made: by the
  kiosk's gate with :func:`check` (its write path checks the same fields as values by name
  before they become a row, :func:`check_values_but`), by the central store's ingest with
  pydantic, all read from the same annotations (tests/test_core_event_check.py proves they
  agree);
* the **JSON** form, :meth:`GateEvent.to_json`: plain JSON values, dates as ``isoformat()``,
  readings under ``"readings"``. It is what goes on the wire, what the central store keeps
  verbatim, and what the hash chain is computed over (kiosk.store.events);
* the **row** form, :meth:`GateEvent.to_row` (:func:`row_of` from values by name) and
  :func:`json_from_row`: the values in
  :data:`EVENT_FIELDS` order as SQLite keeps them (datetimes as
  ``YYYY-MM-DD HH:MM:SS.ffffff`` text, booleans as 0/1), what SQLAlchemy writes and reads.

Adding a field to the event is one entry in :class:`GateEvent` and one in :class:`Movement`
here, and a migration for the column: the store's table, the checks, the codec, the wire,
ingest and the export follow (docs/ARCHITECTURE.md, recipe e).
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import math
import operator
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Annotated, Any, Final, cast

# the limits are plain data (annotated_types, which pydantic reads natively): the kiosk checks
# them with check() below, without loading pydantic (about 12 MB on a Pi, issue 13); the
# central store builds its pydantic validator from the same annotations
from annotated_types import Ge, Le, MaxLen

from kiosk.core.clock import ClockState
from kiosk.core.decision import Decision, Outcome
from kiosk.core.messages import Message, Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.policy import Policy
from kiosk.core.screening import Reading, ReadingSource, ReadingState


class IdentifiedBy(StrEnum):
    """How the person at the gate was identified."""

    QR = "qr"  # the camera read a QR pass
    SCANNER = "scanner"  # a USB/serial barcode scanner typed it
    SEARCH = "search"  # picked from a search on the gate screen
    VISITOR = "visitor"  # a visitor or delivery, no pass
    CLI = "cli"  # kiosk check
    CORRECTION = "correction"  # a new event correcting an earlier one (corrects_event_id)
    #: the gate's acknowledgement of a confirmed fever (the fever in corrects_event_id)
    ACKNOWLEDGEMENT = "acknowledgement"


#: the JSON form of an event (:meth:`GateEvent.to_json`, ``readings`` included) or of one
#: of its readings: what goes on the wire, what the hash is computed over
EventJson = dict[str, Any]
ReadingJson = dict[str, Any]


# --- limits: each defined once, for the kiosk and the central store ---------------------------

#: a UUID as ``str(uuid.uuid4())`` writes it (event ids, device ids)
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: a SHA-256 in hex
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
#: their lengths (the store's column widths)
UUID_LENGTH: Final = 36
SHA256_LENGTH: Final = 64
#: an Ed25519 signature in hex (64 bytes): the kiosk's signature of an event's hash
SIGNATURE_PATTERN: Final = r"^[0-9a-f]{128}$"
SIGNATURE_LENGTH: Final = 128
#: highest sequence number (fits a 32-bit column: 5,000 movements a day for 1,000 years)
MAX_SEQ: Final = 2**31 - 1
#: highest row id of the kiosk's own tables (volunteer, pass, resident ids)
MAX_ROW_ID: Final = 2**31 - 1
#: a gate event has one or two readings (a re-measure); a few more are tolerated
MAX_READINGS: Final = 8
#: text lengths, the same as the columns of the kiosk's store (kiosk.store.models)
PASS_NUMBER_MAX: Final = 40
CHECKPOINT_MAX: Final = 40
HOUSEHOLD_MAX: Final = 40
VISITOR_NAME_MAX: Final = 100
VISITOR_PHONE_MAX: Final = 30
VISITOR_REASON_MAX: Final = 200
HOST_BUILDING_MAX: Final = 20
BOOT_ID_MAX: Final = 64
NOTE_MAX: Final = 2000
DEVICE_NAME_MAX: Final = 100
PROTOCOL_MAX: Final = 30
#: days a kiosk's clock can claim, however wrong it is: [EARLIEST, LATEST)
EARLIEST: Final = date(2000, 1, 1)
LATEST: Final = date(2100, 1, 1)
#: a value any device can report (°C; a 16-bit tenth of a degree fits): wider than any body
TEMPERATURE_MIN_C: Final = -273.15
TEMPERATURE_MAX_C: Final = 10_000.0
#: the screening settings a kiosk accepts (kiosk.settings), as recorded with each event
FEVER_THRESHOLD_RANGE_C: Final = (35.0, 40.0)
FOREHEAD_OFFSET_RANGE_C: Final = (-3.0, 3.0)
#: UTC offsets that exist (minutes)
UTC_OFFSET_RANGE_MIN: Final = (-16 * 60, 16 * 60)


def _day_in_range(d: date) -> date:
    if not EARLIEST <= d < LATEST:
        raise ValueError(f"{d} is not a date a kiosk can record")
    return d


def _naive_utc_in_range(t: datetime) -> datetime:
    if t.tzinfo is not None:
        raise ValueError("wall_utc is written without a time zone (it is UTC)")
    _day_in_range(t.date())
    return t


@dataclass(frozen=True, slots=True)
class Pattern:
    """A text limit: the whole value matches ``regex``. pydantic puts it in the schema (and
    the OpenAPI document); :func:`check` matches it on the kiosk."""

    regex: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        schema = handler(source)
        schema["pattern"] = self.regex
        return schema


@dataclass(frozen=True, slots=True)
class After:
    """A limit no marker says: ``func`` returns the value or raises ValueError."""

    func: Callable[[Any], Any]

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], Any]) -> Any:
        from pydantic_core import core_schema  # only where pydantic builds a validator

        return core_schema.no_info_after_validator_function(self.func, handler(source))


Uuid = Annotated[str, MaxLen(UUID_LENGTH), Pattern(UUID_PATTERN)]
Sha256 = Annotated[str, MaxLen(SHA256_LENGTH), Pattern(SHA256_PATTERN)]
Signature = Annotated[str, MaxLen(SIGNATURE_LENGTH), Pattern(SIGNATURE_PATTERN)]
Seq = Annotated[int, Ge(1), Le(MAX_SEQ)]
RowId = Annotated[int, Ge(1), Le(MAX_ROW_ID)]
Day = Annotated[date, After(_day_in_range)]
UtcTime = Annotated[datetime, After(_naive_utc_in_range)]
Celsius = Annotated[float, Ge(TEMPERATURE_MIN_C), Le(TEMPERATURE_MAX_C)]


DeviceName = Annotated[str, MaxLen(DEVICE_NAME_MAX)]
Protocol = Annotated[str, MaxLen(PROTOCOL_MAX)]
BootId = Annotated[str, MaxLen(BOOT_ID_MAX)]
CheckpointId = Annotated[str, MaxLen(CHECKPOINT_MAX)]
PassNumber = Annotated[str, MaxLen(PASS_NUMBER_MAX)]
Household = Annotated[str, MaxLen(HOUSEHOLD_MAX)]
VisitorName = Annotated[str, MaxLen(VISITOR_NAME_MAX)]
VisitorPhone = Annotated[str, MaxLen(VISITOR_PHONE_MAX)]
VisitorReason = Annotated[str, MaxLen(VISITOR_REASON_MAX)]
HostBuilding = Annotated[str, MaxLen(HOST_BUILDING_MAX)]
Note = Annotated[str, MaxLen(NOTE_MAX)]


#: how the validators made from these types behave: strict (``"5"`` is not a sequence
#: number, ``1`` not a boolean), no unknown fields, finite floats only (NaN and infinity
#: cannot be hashed the same way by every JSON writer), and an instance is checked again.
#: pydantic's ConfigDict is a plain dict: written as one, the core loads no pydantic.
_CONFIG: Final[dict[str, Any]] = {"strict": True, "extra": "forbid", "allow_inf_nan": False,
                                  "revalidate_instances": "always"}


#: the highest rule set version an event can name (kiosk.core.rules.MAX_VERSION)
RULES_VERSION_MAX: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class EventReading:
    """One temperature reading as recorded with its event (°C, 0.01 resolution)."""

    __pydantic_config__ = _CONFIG

    event_id: Uuid
    ordinal: Annotated[int, Ge(1), Le(MAX_READINGS)]
    state: ReadingState
    object_c: Celsius | None
    ambient_c: Celsius | None
    used_c: Celsius | None
    source: ReadingSource
    device: DeviceName = ""
    protocol: Protocol = ""


@dataclass(frozen=True, slots=True)
class GateEvent:
    """One movement decision at the gate: what the kiosk records and the district keeps.

    ``personal_digest`` covers the personal fields (:data:`PERSONAL_FIELDS`) so retention
    can wipe them and the chain still verifies; ``hash`` covers everything else, that
    digest, ``prev_hash`` and the readings. Made by the gate (kiosk.store.events) and by the
    central store's ingest, both through a validator built from this type."""

    __pydantic_config__ = _CONFIG

    id: Uuid
    device_id: Uuid
    seq: Seq
    wall_utc: UtcTime
    utc_offset_min: Annotated[int, Ge(UTC_OFFSET_RANGE_MIN[0]), Le(UTC_OFFSET_RANGE_MIN[1])]
    local_date: Day
    monotonic_s: Annotated[float, Ge(0)]
    boot_id: BootId
    clock_state: ClockState
    checkpoint: CheckpointId
    volunteer_id: RowId | None
    direction: Direction
    identified_by: IdentifiedBy
    pass_number: PassNumber | None
    pass_id: RowId | None
    pass_kind: PassKind | None
    resident_id: RowId | None
    household: Household | None
    visitor_name: VisitorName | None
    visitor_phone: VisitorPhone | None
    visitor_reason: VisitorReason | None
    host_building: HostBuilding | None
    outcome: Outcome
    reason: Reason
    counts_against_quota: bool
    escalated: bool
    fever_threshold_c: Annotated[float, Ge(FEVER_THRESHOLD_RANGE_C[0]),
                                 Le(FEVER_THRESHOLD_RANGE_C[1])]
    forehead_offset_c: Annotated[float, Ge(FOREHEAD_OFFSET_RANGE_C[0]),
                                 Le(FOREHEAD_OFFSET_RANGE_C[1])]
    #: the earlier event this one is about: the movement an undo corrects, the fever an
    #: acknowledgement answers
    corrects_event_id: Uuid | None
    #: free text; an acknowledgement: who was called (the team leader, the phone)
    note: Note
    personal_digest: Sha256
    prev_hash: Annotated[str, MaxLen(SHA256_LENGTH), Pattern(r"^(?:[0-9a-f]{64})?$")]
    hash: Sha256
    #: the kiosk's Ed25519 signature of ``hash`` (kiosk.core.signing); None on events
    #: recorded before the kiosk had its key. Not hashed: it signs the hash.
    signature: Signature | None = None
    #: the command's rule set (kiosk.core.rules) the decision was made with; None: the
    #: kiosk's own settings
    rules_version: Annotated[int, Ge(1), Le(RULES_VERSION_MAX)] | None = None
    readings: Annotated[tuple[EventReading, ...], MaxLen(MAX_READINGS)] = ()

    def to_json(self) -> EventJson:
        """The JSON form: the wire, the central store's kept record, the hash body."""
        out = dict(zip(EVENT_FIELDS, _event_values(self), strict=True))
        for n in _ISO_FIELDS:
            out[n] = out[n].isoformat()
        out["readings"] = [
            _without_unset(dict(zip(READING_FIELDS, _reading_values(r), strict=True)),
                           _LATER_READING_FIELDS)
            for r in self.readings]
        return _without_unset(out, _LATER_FIELDS)

    def to_row(self) -> tuple[Any, ...]:
        """The row form: values in :data:`EVENT_FIELDS` order as SQLite stores them."""
        return _row(_event_values(self))

    def reading_rows(self) -> list[tuple[Any, ...]]:
        """The readings' rows, in :data:`READING_FIELDS` order."""
        return [_reading_values(r) for r in self.readings]


@dataclass(frozen=True, slots=True)
class Visitor:
    """A visitor or delivery at the gate (no pass)."""

    name: str
    phone: str = ""
    reason: str = ""
    host_building: str = ""


@dataclass(frozen=True, slots=True)
class Movement:
    """Everything known about one passage at the gate, ready to be recorded
    (kiosk.store.events.EventWriter.append makes the event from it).

    A field added to :class:`GateEvent` gets a field of the same name here, with the same
    default; ``append`` copies it (docs/ARCHITECTURE.md, recipe e)."""

    checkpoint: str
    direction: Direction
    decision: Decision
    readings: Sequence[Reading]
    policy: Policy
    identified_by: str  # qr, scanner, search, visitor, cli
    pass_number: str | None = None
    pass_id: int | None = None
    pass_kind: str | None = None
    resident_id: int | None = None
    household: str | None = None
    volunteer_id: int | None = None
    visitor: Visitor | None = None
    corrects_event_id: str | None = None
    note: str = ""


#: the event's columns, in table order (``readings`` is a table of its own)
EVENT_FIELDS: Final = tuple(f.name for f in fields(GateEvent) if f.name != "readings")
READING_FIELDS: Final = tuple(f.name for f in fields(EventReading))
#: the fields of the codec's first version: every event ever recorded has them. A field
#: added later is optional (``| None = None``) and left out of the JSON form and of both
#: hashes while it is None, so the events recorded before it, and an older kiosk's, keep
#: their hash bytes (docs/ARCHITECTURE.md, recipe e). Never edit these two sets.
FIRST_EVENT_FIELDS: Final = frozenset({
    "id", "device_id", "seq", "wall_utc", "utc_offset_min", "local_date", "monotonic_s",
    "boot_id", "clock_state", "checkpoint", "volunteer_id", "direction", "identified_by",
    "pass_number", "pass_id", "pass_kind", "resident_id", "household", "visitor_name",
    "visitor_phone", "visitor_reason", "host_building", "outcome", "reason",
    "counts_against_quota", "escalated", "fever_threshold_c", "forehead_offset_c",
    "corrects_event_id", "note", "personal_digest", "prev_hash", "hash"})
FIRST_READING_FIELDS: Final = frozenset({
    "event_id", "ordinal", "state", "object_c", "ambient_c", "used_c", "source", "device",
    "protocol"})
_LATER_FIELDS = tuple(n for n in EVENT_FIELDS if n not in FIRST_EVENT_FIELDS)
_LATER_READING_FIELDS = tuple(n for n in READING_FIELDS if n not in FIRST_READING_FIELDS)


def _without_unset(values: dict[str, Any], later: Sequence[str]) -> dict[str, Any]:
    """``values`` without the later fields that are None (see FIRST_EVENT_FIELDS)."""
    for n in later:
        if n in values and values[n] is None:
            del values[n]
    return values


#: the field values of an event or a reading as one tuple (one C call)
_event_values = operator.attrgetter(*EVENT_FIELDS)
_reading_values = operator.attrgetter(*READING_FIELDS)


def _kind(model: type, name: str) -> type | None:
    """The field's base type (date, datetime, bool, or another) under Optional."""
    annotation = typing.get_type_hints(model)[name]
    for t in (datetime, date, bool):
        if annotation is t or annotation == t | None:
            return t
    return None


def _row_value(kind: type | None) -> Callable[[Any], Any] | None:
    if kind is datetime:  # SQLAlchemy's SQLite DATETIME text (faster than strftime)
        return lambda v: v.isoformat(" ", "microseconds")
    if kind is date:
        return lambda v: v.isoformat()
    if kind is bool:
        return int
    return None


_TO_ROW = [(i, f) for i, n in enumerate(EVENT_FIELDS)
           if (f := _row_value(_kind(GateEvent, n))) is not None]


def _row(values: Sequence[Any]) -> tuple[Any, ...]:
    out = list(values)
    for i, f in _TO_ROW:
        if out[i] is not None:
            out[i] = f(out[i])
    return tuple(out)


_event_items = operator.itemgetter(*EVENT_FIELDS)


def row_of(values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The row form (as :meth:`GateEvent.to_row`) of an event given as its values by name."""
    return _row(_event_items(values))


_ISO_FIELDS = tuple(n for n in EVENT_FIELDS if _kind(GateEvent, n) in (datetime, date))


# --- checking on the kiosk: the limits read from the same annotations ----------------------
#
# The central store validates with pydantic, built from GateEvent's annotations
# (kiosk.server.ingest). The kiosk checks the same annotations with the few lines below,
# so it need not load pydantic (about 12 MB, the most of the kiosk's memory goal, issue 13)
# and a movement spends a few microseconds on it. They follow pydantic's strict mode on
# Python objects, error types included, and tests/test_core_event.py proves, field by field
# and value by value, that both accept and refuse the same events with the same message.

#: one problem in pydantic's error shape (``loc``, ``type``, ``msg``, ``ctx``): describe() reads it
Problem = dict[str, Any]
_Check = Callable[[Any], "Problem | None"]


def _problem(kind: str, msg: str, **ctx: Any) -> Problem:
    return {"loc": (), "type": kind, "msg": msg, "ctx": ctx}


def _type_check(base: Any) -> _Check:
    """Strict mode on Python objects: no bool for a number, no datetime for a date, an
    enum's own members only; an int is a float; NaN and infinity are no float."""
    if base is bool:
        return lambda v: None if v is True or v is False else _problem(
            "bool_type", "Input should be a valid boolean")
    if base is int:
        return lambda v: None if isinstance(v, int) and not isinstance(v, bool) else _problem(
            "int_type", "Input should be a valid integer")
    if base is float:
        def number(v: Any) -> Problem | None:
            if not isinstance(v, int | float) or isinstance(v, bool):
                return _problem("float_type", "Input should be a valid number")
            if not math.isfinite(v):
                return _problem("finite_number", "Input should be a finite number")
            return None
        return number
    if base is str:
        return lambda v: None if isinstance(v, str) else _problem(
            "string_type", "Input should be a valid string")
    if base is datetime:
        return lambda v: None if isinstance(v, datetime) else _problem(
            "datetime_type", "Input should be a valid datetime")
    if base is date:
        return lambda v: None if isinstance(v, date) and not isinstance(v, datetime) \
            else _problem("date_type", "Input should be a valid date")
    if isinstance(base, type) and issubclass(base, Enum):
        return lambda v: None if isinstance(v, base) else _problem(
            "is_instance_of", f"Input should be an instance of {base.__name__}")
    if typing.get_origin(base) is tuple:
        item, _ = typing.get_args(base)
        each = _checker(item)

        def items(v: Any) -> Problem | None:
            if not isinstance(v, tuple):
                return _problem("tuple_type", "Input should be a valid tuple")
            for i, x in enumerate(v):
                if (p := each(x)) is not None:
                    return {**p, "loc": (i, *p["loc"])}
            return None
        return items
    if is_dataclass(base):
        return _dataclass_check(base)  # type: ignore[arg-type]
    raise TypeError(f"no check for {base!r}")


def _limit_check(marker: Any) -> _Check:
    """One limit of an annotation: the annotated_types markers, Pattern and After."""
    if isinstance(marker, Ge):
        return lambda v: None if v >= marker.ge else _problem(
            "greater_than_equal", f"Input should be greater than or equal to {marker.ge}",
            ge=marker.ge)
    if isinstance(marker, Le):
        return lambda v: None if v <= marker.le else _problem(
            "less_than_equal", f"Input should be less than or equal to {marker.le}",
            le=marker.le)
    if isinstance(marker, MaxLen):
        def length(v: Any) -> Problem | None:
            if len(v) <= marker.max_length:
                return None
            kind = "string_too_long" if isinstance(v, str) else "too_long"
            return _problem(kind, f"Value should have at most {marker.max_length} items",
                            max_length=marker.max_length)
        return length
    if isinstance(marker, Pattern):
        # pydantic matches with Rust's regex, whose $ is the end of the text (Python's $
        # also matches before a final newline)
        search = re.compile(marker.regex).search
        whole = marker.regex.endswith("$")

        def pattern(v: str) -> Problem | None:
            m = search(v)
            if m is not None and (not whole or m.end() == len(v)):
                return None
            return _problem("string_pattern_mismatch",
                            f"String should match pattern '{marker.regex}'",
                            pattern=marker.regex)
        return pattern
    if isinstance(marker, After):
        def after(v: Any) -> Problem | None:
            try:
                marker.func(v)
            except ValueError as exc:
                return _problem("value_error", f"Value error, {exc}")
            return None
        return after
    raise TypeError(f"no check for the limit {marker!r}")


def _unwrap(annotation: Any) -> tuple[Any, bool, tuple[Any, ...]]:
    """A field's annotation as (base type, whether None is allowed, its limits)."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) == 1
        annotation, = args
    limits: tuple[Any, ...] = ()
    if typing.get_origin(annotation) is Annotated:
        annotation, *extra = typing.get_args(annotation)
        limits = tuple(extra)
    return annotation, optional, limits


@dataclass(frozen=True, slots=True)
class _FieldTest:
    """One field's check, and the test its usual value passes in one expression."""

    #: the whole check: the first problem, or None
    check: _Check
    #: Python source over ``v``, true for a value of an exact type within its length or
    #: range (then valid); None: no such test (a pattern or a function: always ``check``)
    usual: str | None
    #: the names ``usual`` uses (each ends in the field's tag, so tests can be joined)
    names: dict[str, Any]


def _field_test(annotation: Any, tag: str = "") -> _FieldTest:
    """The check of one field's annotation: ``X | None``, ``Annotated[X, limits...]``."""
    annotation, optional, limits = _unwrap(annotation)
    of_type = _type_check(annotation)
    limit_checks = [_limit_check(m) for m in limits]
    checks = [of_type, *limit_checks]
    # the types of_type accepts as they are (a movement's usual values): checked for their
    # limits only; anything else takes the whole way (subclasses, problems)
    exact: frozenset[type] = _EXACT.get(annotation, frozenset())
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        exact = frozenset({annotation})
    finite = annotation is float

    def check(v: Any) -> Problem | None:
        if v is None and optional:
            return None
        if type(v) in exact and (not finite or math.isfinite(v)):
            for c in limit_checks:
                if (p := c(v)) is not None:
                    return p
            return None
        for c in checks:
            if (p := c(v)) is not None:
                return p
        return None

    if any(not isinstance(m, Ge | Le | MaxLen) for m in limits):
        return _FieldTest(check, None, {})  # a pattern or a function: no shortcut
    names: dict[str, Any] = {f"exact{tag}": exact, f"optional{tag}": optional}
    longest = next((m.max_length for m in limits if isinstance(m, MaxLen)), None)
    if longest is not None:
        names[f"longest{tag}"] = longest
        usual = f"type(v) in exact{tag} and len(v) <= longest{tag}"
    elif finite or any(isinstance(m, Ge | Le) for m in limits):
        # the largest floats as the default bounds: NaN and infinity fall outside them
        names[f"lo{tag}"] = next((m.ge for m in limits if isinstance(m, Ge)),
                                 -sys.float_info.max)
        names[f"hi{tag}"] = next((m.le for m in limits if isinstance(m, Le)),
                                 sys.float_info.max)
        usual = f"type(v) in exact{tag} and lo{tag} <= v <= hi{tag}"
    else:
        usual = f"type(v) in exact{tag}"
    return _FieldTest(check, f"({usual} or v is None and optional{tag})", names)


def _checker(annotation: Any) -> _Check:
    """One field's check as one function: the usual value (of an exact type, within its
    length or range) passes in one expression; anything else, and every problem, takes
    the whole way."""
    test = _field_test(annotation)
    if test.usual is None:
        return test.check
    return cast(_Check, eval(  # noqa: S307 (source made above from the field's limits)
        f"lambda v: None if {test.usual} else check(v)", {**test.names, "check": test.check}))


def _all_valid(tests: Sequence[tuple[str, _FieldTest]], by_name: bool
               ) -> Callable[[Any], bool]:
    """Whether every field of a value is valid, as one generated function (a movement's
    fields take one expression each, not a call each: a few microseconds of every write);
    a field that fails its expression is checked in full. ``by_name``: ``values[name]``,
    else ``value.name``. Its answer is what the field checks together say."""
    namespace: dict[str, Any] = {}
    lines = ["def valid(x):"]
    for i, (name, test) in enumerate(tests):
        assert name.isidentifier()
        lines.append(f"    v = x[{name!r}]" if by_name else f"    v = x.{name}")
        namespace[f"check_{i}"] = test.check
        namespace.update(test.names)
        fails = f"check_{i}(v) is not None"
        lines.append(f"    if {fails}: return False" if test.usual is None else
                     f"    if not {test.usual} and {fails}: return False")
    lines.append("    return True")
    exec("\n".join(lines), namespace)  # noqa: S102 (source made above from the fields)
    return cast(Callable[[Any], bool], namespace["valid"])


_EXACT: Final[dict[Any, frozenset[type]]] = {
    str: frozenset({str}), int: frozenset({int}), float: frozenset({float, int}),
    bool: frozenset({bool}), datetime: frozenset({datetime}), date: frozenset({date}),
}


def _field_tests(cls: type, skip: frozenset[str] = frozenset()
                 ) -> list[tuple[str, _FieldTest]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [(f.name, _field_test(hints[f.name], f"_{i}"))
            for i, f in enumerate(fields(cls)) if f.name not in skip]


def _first_problem(checks: list[tuple[str, _Check]], values: Iterable[Any]) -> Problem | None:
    for (name, c), x in zip(checks, values, strict=True):
        if (p := c(x)) is not None:
            return {**p, "loc": (name, *p["loc"])}
    return None


def _dataclass_check(cls: type, skip: frozenset[str] = frozenset()) -> _Check:
    tests = _field_tests(cls, skip)
    valid = _all_valid(tests, by_name=False)
    checks = [(n, t.check) for n, t in tests]
    getter = operator.attrgetter(*(n for n, _ in checks))

    def check(v: Any) -> Problem | None:
        if type(v) is not cls:
            return _problem("dataclass_exact_type",
                            f"Input should be an instance of {cls.__name__}")
        if valid(v):
            return None
        return _first_problem(checks, getter(v))
    return check


_CHECK_EVENT = _dataclass_check(GateEvent)


def check(event: GateEvent) -> GateEvent:
    """``event`` if it is within every limit of its type; else EventInvalid with a message
    for people (the first problem, as :func:`describe` words pydantic's)."""
    problem = _CHECK_EVENT(event)
    if problem is not None:
        raise describe([problem])
    return event


def check_but(valid: Iterable[str]) -> Callable[[GateEvent], GateEvent]:
    """:func:`check` of every field but ``valid``: those its maker guarantees by
    construction (the kiosk's write path makes the id, the hashes and the signature itself:
    checking them again costs a regular expression each, on every movement)."""
    unknown = set(valid) - {f.name for f in fields(GateEvent)}
    assert not unknown, f"GateEvent has no fields {unknown}"
    partial = _dataclass_check(GateEvent, frozenset(valid))

    def check_rest(event: GateEvent) -> GateEvent:
        problem = partial(event)
        if problem is not None:
            raise describe([problem])
        return event
    return check_rest


def check_values_but(valid: Iterable[str]) -> Callable[[Mapping[str, Any]], None]:
    """:func:`check_but` of an event not made yet: its field values by name (``readings`` a
    tuple of :class:`EventReading`), as the kiosk's write path holds them between hashing
    them and writing them as a row (:func:`row_of`). The same checks, in the same order, with
    the same refusals; making the frozen GateEvent only to check it and take it apart again
    would cost about 5 µs of every movement."""
    unknown = set(valid) - {f.name for f in fields(GateEvent)}
    assert not unknown, f"GateEvent has no fields {unknown}"
    tests = _field_tests(GateEvent, frozenset(valid))
    all_valid = _all_valid(tests, by_name=True)
    checks = [(n, t.check) for n, t in tests]
    getter = operator.itemgetter(*(n for n, _ in checks))

    def check_rest(values: Mapping[str, Any]) -> None:
        if all_valid(values):
            return
        problem = _first_problem(checks, getter(values))
        if problem is not None:
            raise describe([problem])
    return check_rest


# --- the columns: what the store's table is made from ----------------------------------------

@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One column of the event's table, as its field declares it (kiosk.store.models makes
    the SQL column from it, so a new field needs no second declaration)."""

    name: str
    #: str, int, float, bool, date, datetime, or an enum (kept as its value, a text)
    kind: type
    optional: bool
    #: a text's limit (characters), None when it has none
    max_length: int | None
    #: the value when none is given (kiosk.core.event's default), None when required
    default: Any = None


def field_specs(model: type) -> tuple[FieldSpec, ...]:
    """The columns of :class:`GateEvent` or :class:`EventReading`, in field order
    (``readings`` is a table of its own)."""
    hints = typing.get_type_hints(model, include_extras=True)
    out = []
    for f in fields(model):
        if f.name == "readings":
            continue
        base, optional, limits = _unwrap(hints[f.name])
        length = next((m.max_length for m in limits if isinstance(m, MaxLen)), None)
        default = None if f.default is MISSING else f.default
        out.append(FieldSpec(f.name, base, optional, length, default))
    return tuple(out)


# --- from the store's rows to the JSON form (the sync's bulk path, no validation) ------------

def _json_from_row_value(kind: type | None) -> Callable[[Any], Any] | None:
    """A raw SQLite value -> its JSON form, as SQLAlchemy would read it back and the kiosk
    hashed it: DATETIME text re-printed by isoformat, 0/1 as booleans."""
    if kind is datetime:
        return lambda v: None if v is None else datetime.fromisoformat(v).isoformat()
    if kind is date:
        return lambda v: None if v is None else date.fromisoformat(v).isoformat()
    if kind is bool:
        return lambda v: None if v is None else bool(v)
    return None


def _from_row(model: type, names: Sequence[str], later: Sequence[str]
              ) -> Callable[[Sequence[Any]], EventJson]:
    convs = [(n, f) for n in names if (f := _json_from_row_value(_kind(model, n))) is not None]

    def to_json(raw: Sequence[Any]) -> EventJson:
        values = dict(zip(names, raw, strict=True))
        for n, f in convs:
            values[n] = f(values[n])
        return _without_unset(values, later) if later else values

    return to_json


#: a raw row (EVENT_FIELDS order) -> the event's JSON form without ``readings``
json_from_row: Final = _from_row(GateEvent, EVENT_FIELDS, _LATER_FIELDS)
#: a raw reading row (READING_FIELDS order) -> the reading's JSON form
reading_json_from_row: Final = _from_row(EventReading, READING_FIELDS, _LATER_READING_FIELDS)


def _from_json_value(kind: type | None) -> Callable[[str], Any] | None:
    if kind is datetime:
        return datetime.fromisoformat
    if kind is date:
        return date.fromisoformat
    return None


def _values_from_json(model: type, names: Sequence[str]
                      ) -> Callable[[EventJson], dict[str, Any]]:
    convs = [(n, f) for n in names if (f := _from_json_value(_kind(model, n))) is not None]

    def parse(values: EventJson) -> dict[str, Any]:
        out = {n: values.get(n) for n in names}
        for n, f in convs:
            v = out[n]
            if v is not None:
                out[n] = f(v)
        return out

    return parse


#: a kept JSON record -> the event's column values (dates as objects), not validated: the
#: central store's export reads back what ingest already validated
values_from_json: Final = _values_from_json(GateEvent, EVENT_FIELDS)
reading_values_from_json: Final = _values_from_json(EventReading, READING_FIELDS)


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the store gives them back, so the hash is computed over what will be
    read: SQLite keeps a whole REAL as an integer, and -0.0 comes back as 0.0."""
    for k, v in values.items():
        if type(v) is float and v == 0.0:
            values[k] = 0.0
    return values


# --- hashing: the chain is computed over the JSON form --------------------------------------

#: fields that identify a person; retention wipes them after the configured number of days
#: while the counts (direction, outcome, reason, kind) stay
PERSONAL_FIELDS: Final = ("pass_number", "pass_id", "resident_id", "household", "visitor_name",
                          "visitor_phone", "visitor_reason", "host_building", "note")
#: fields left out of the event hash body (a set: looked up for every field of every event)
#: (and the signature, which is made over the hash)
NOT_HASHED: Final = frozenset(PERSONAL_FIELDS) | {"hash", "signature"}


def _iso(v: Any) -> str:
    """Dates and datetimes as the hash chain has always written them: ``isoformat()``."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


#: one encoder for every hash (json.dumps with these arguments builds a new one per call);
#: it keeps no state between calls, so threads share it
_ENCODER = json.JSONEncoder(default=_iso, sort_keys=True, ensure_ascii=False,
                            separators=(",", ":"))
#: the C encoder that ``_ENCODER.encode`` builds anew at every call (json.encoder.iterencode
#: with these settings), built once: the same bytes, without a few microseconds of Python
#: per digest (two digests per gate event). No circular-reference bookkeeping: a hash body
#: is a dict of plain values and lists of them, made by this module's callers.
_MAKE_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None: no C part
_C_ENCODE: Callable[[Any, int], list[str]] | None = (
    None if _MAKE_C_ENCODER is None else _MAKE_C_ENCODER(
        None, _iso, json.encoder.encode_basestring, None, ":", ",", True, False, True))


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes the hash chain is computed over: sorted keys, no spaces, UTF-8, dates as
    ``isoformat()``. These bytes must never change (every kiosk's stored chain is computed
    over them): tests/sync/test_sync_canonical.py compares them with the original form."""
    if _C_ENCODE is None:  # a Python without the json module's C part
        return _ENCODER.encode(body).encode()
    return "".join(_C_ENCODE(body, 0)).encode()


def personal_body(values: EventJson) -> dict[str, Any]:
    """What ``personal_digest`` covers: the personal fields (a later one only when set)."""
    return {k: v for k in PERSONAL_FIELDS
            if (v := values.get(k)) is not None or k in FIRST_EVENT_FIELDS}


def personal_digest(values: EventJson) -> str:
    return hashlib.sha256(canonical(personal_body(values))).hexdigest()


def is_anonymised(values: EventJson) -> bool:
    return all(values.get(k) in (None, "") for k in PERSONAL_FIELDS)


def event_hash(values: EventJson, readings: Sequence[ReadingJson]) -> str:
    """SHA-256 over ``prev_hash``, the event's non-personal content, the digest of its
    personal fields and its readings: altering or deleting an earlier record breaks every
    later hash, while wiping personal data for retention does not."""
    body = {k: v for k, v in values.items()
            if k not in NOT_HASHED and (v is not None or k in FIRST_EVENT_FIELDS)}
    body["readings"] = [r if FIRST_READING_FIELDS.issuperset(r) else
                        {k: v for k, v in r.items() if v is not None or k in FIRST_READING_FIELDS}
                        for r in readings]
    return hashlib.sha256(canonical(body)).hexdigest()


# --- refusing -------------------------------------------------------------------------------

class EventInvalid(ValueError):
    """An event that breaks a limit of the type; ``message`` says which, for people."""

    def __init__(self, detail: str, message: Message) -> None:
        super().__init__(detail)
        self.message = message


#: field names on the screen, Chinese and English
_FIELD_NAMES: dict[str, Message] = {
    "pass_number": Message("通行证号", "pass number"),
    "readings": Message("体温读数", "temperature readings"),
    "object_c": Message("体温", "temperature"),
    "ambient_c": Message("环境温度", "ambient temperature"),
    "used_c": Message("体温", "temperature"),
    "visitor_name": Message("访客姓名", "visitor name"),
    "visitor_phone": Message("访客电话", "visitor phone"),
    "visitor_reason": Message("来访事由", "reason for the visit"),
    "host_building": Message("被访楼栋", "building visited"),
    "household": Message("户号", "household"),
    "note": Message("备注", "note"),
    "checkpoint": Message("卡口编号", "checkpoint id"),
}


def refusal(field: str, detail: str) -> EventInvalid:
    """A refusal of ``field``'s value, for people."""
    name = _FIELD_NAMES.get(field, Message(field, field))
    return EventInvalid(f"{field}: {detail}", Message(f"{name.zh}无效", f"{name.en} is not valid"))


def describe(errors: Sequence[Mapping[str, Any]]) -> EventInvalid:
    """The first problem a validator found (pydantic's ``errors()``), as a refusal a
    volunteer can read."""
    first = errors[0]
    where = [str(p) for p in first["loc"] if not isinstance(p, int)]
    field = where[-1] if where else "event"
    name = _FIELD_NAMES.get(field, Message(field, field))
    if field == "ordinal" or first["type"] == "too_long":  # a ninth reading: ordinal 9
        text = Message(f"体温读数过多(最多 {MAX_READINGS} 个)",
                       f"too many temperature readings (at most {MAX_READINGS})")
    elif first["type"] == "string_too_long":
        n = (first.get("ctx") or {}).get("max_length")
        text = Message(f"{name.zh}过长(最多 {n} 个字符)",
                       f"{name.en} too long (at most {n} characters)")
    elif first["type"] in ("finite_number", "greater_than_equal", "less_than_equal"):
        text = Message(f"{name.zh}不是有效数值", f"{name.en} is not a usable number")
    else:
        text = Message(f"{name.zh}无效", f"{name.en} is not valid")
    return EventInvalid(f"{'.'.join(where) or 'event'}: {first['msg']}", text)
