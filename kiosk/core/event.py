"""The gate event: one typed record, its limits, and its one codec.

A gate event (with its readings) is defined here once. Every field's limit (length,
enumeration, range, UUID form) is part of the type, so the kiosk cannot record an event the
central store would refuse, and the central store accepts exactly what a kiosk can record.

The record has three forms, all made here:

* the **typed** form, :class:`GateEvent` (validated when made, by the kiosk's gate and by
  the central store's ingest alike);
* the **JSON** form, :meth:`GateEvent.to_json`: plain JSON values, dates as ``isoformat()``,
  readings under ``"readings"``. It is what goes on the wire, what the central store keeps
  verbatim, and what the hash chain is computed over (kiosk.store.events);
* the **row** form, :meth:`GateEvent.to_row` and :func:`json_from_row`: the values in
  :data:`EVENT_FIELDS` order as SQLite keeps them (datetimes as
  ``YYYY-MM-DD HH:MM:SS.ffffff`` text, booleans as 0/1), what SQLAlchemy writes and reads.

Adding a field to the event is one entry in :class:`GateEvent` (and a migration for the
column): the codec, the wire, ingest and the export follow (docs/ARCHITECTURE.md, recipe e).
"""

from __future__ import annotations

import hashlib
import json
import operator
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final

# only the constraint markers: they are plain data, and pydantic builds no validator (and
# loads nothing more) until kiosk.store.events or the central store asks it to
from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from kiosk.core.clock import ClockState
from kiosk.core.decision import Outcome
from kiosk.core.messages import Message, Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.screening import ReadingSource, ReadingState


class IdentifiedBy(StrEnum):
    """How the person at the gate was identified."""

    QR = "qr"  # the camera read a QR pass
    SCANNER = "scanner"  # a USB/serial barcode scanner typed it
    SEARCH = "search"  # picked from a search on the gate screen
    VISITOR = "visitor"  # a visitor or delivery, no pass
    CLI = "cli"  # kiosk check
    CORRECTION = "correction"  # a new event correcting an earlier one (corrects_event_id)


#: the JSON form of an event (:meth:`GateEvent.to_json`, ``readings`` included) or of one
#: of its readings: what goes on the wire, what the hash is computed over
EventJson = dict[str, Any]
ReadingJson = dict[str, Any]


# --- limits: each defined once, for the kiosk and the central store ---------------------------

#: a UUID as ``str(uuid.uuid4())`` writes it (event ids, device ids)
UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
#: a SHA-256 in hex
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
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


Uuid = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
Day = Annotated[date, AfterValidator(_day_in_range)]
UtcTime = Annotated[datetime, AfterValidator(_naive_utc_in_range)]
Celsius = Annotated[float, Field(ge=TEMPERATURE_MIN_C, le=TEMPERATURE_MAX_C)]


DeviceName = Annotated[str, StringConstraints(max_length=DEVICE_NAME_MAX)]
Protocol = Annotated[str, StringConstraints(max_length=PROTOCOL_MAX)]
BootId = Annotated[str, StringConstraints(max_length=BOOT_ID_MAX)]
CheckpointId = Annotated[str, StringConstraints(max_length=CHECKPOINT_MAX)]
PassNumber = Annotated[str, StringConstraints(max_length=PASS_NUMBER_MAX)]
Household = Annotated[str, StringConstraints(max_length=HOUSEHOLD_MAX)]
VisitorName = Annotated[str, StringConstraints(max_length=VISITOR_NAME_MAX)]
VisitorPhone = Annotated[str, StringConstraints(max_length=VISITOR_PHONE_MAX)]
VisitorReason = Annotated[str, StringConstraints(max_length=VISITOR_REASON_MAX)]
HostBuilding = Annotated[str, StringConstraints(max_length=HOST_BUILDING_MAX)]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX)]


#: how the validators made from these types behave: strict (``"5"`` is not a sequence
#: number, ``1`` not a boolean), no unknown fields, finite floats only (NaN and infinity
#: cannot be hashed the same way by every JSON writer), and an instance is checked again
_CONFIG = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False,
                     revalidate_instances="always")


#: the highest rule set version an event can name (kiosk.core.rules.MAX_VERSION)
RULES_VERSION_MAX: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class EventReading:
    """One temperature reading as recorded with its event (°C, 0.01 resolution)."""

    __pydantic_config__ = _CONFIG

    event_id: Uuid
    ordinal: Annotated[int, Field(ge=1, le=MAX_READINGS)]
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
    utc_offset_min: Annotated[int, Field(ge=UTC_OFFSET_RANGE_MIN[0],
                                         le=UTC_OFFSET_RANGE_MIN[1])]
    local_date: Day
    monotonic_s: Annotated[float, Field(ge=0)]
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
    fever_threshold_c: Annotated[float, Field(ge=FEVER_THRESHOLD_RANGE_C[0],
                                              le=FEVER_THRESHOLD_RANGE_C[1])]
    forehead_offset_c: Annotated[float, Field(ge=FOREHEAD_OFFSET_RANGE_C[0],
                                              le=FOREHEAD_OFFSET_RANGE_C[1])]
    corrects_event_id: Uuid | None
    note: Note
    personal_digest: Sha256
    prev_hash: Annotated[str, StringConstraints(pattern=r"^(?:[0-9a-f]{64})?$")]
    hash: Sha256
    readings: Annotated[tuple[EventReading, ...], Field(max_length=MAX_READINGS)] = ()
    # --- fields added later (recipe e): optional, and left out of the JSON form and the
    # hash while None (LATER_FIELDS), so events recorded before them keep their bytes
    #: the command's rule set (kiosk.core.rules) the decision was made with; None: the
    #: kiosk's own settings
    rules_version: Annotated[int, Field(ge=1, le=RULES_VERSION_MAX)] | None = None

    def to_json(self) -> EventJson:
        """The JSON form: the wire, the central store's kept record, the hash body."""
        out = dict(zip(EVENT_FIELDS, _event_values(self), strict=True))
        for n in _ISO_FIELDS:
            out[n] = out[n].isoformat()
        _drop_unset_later(out)
        out["readings"] = [dict(zip(READING_FIELDS, _reading_values(r), strict=True))
                           for r in self.readings]
        return out

    def to_row(self) -> tuple[Any, ...]:
        """The row form: values in :data:`EVENT_FIELDS` order as SQLite stores them."""
        values = list(_event_values(self))
        for i, f in _TO_ROW:
            if values[i] is not None:
                values[i] = f(values[i])
        return tuple(values)

    def reading_rows(self) -> list[tuple[Any, ...]]:
        """The readings' rows, in :data:`READING_FIELDS` order."""
        return [_reading_values(r) for r in self.readings]


#: fields added after kiosks were recording: while None they are not in the JSON form nor in
#: the hash (an older event, or an older kiosk's, has no such key)
LATER_FIELDS: Final = ("rules_version",)


def _drop_unset_later(values: dict[str, Any]) -> dict[str, Any]:
    for n in LATER_FIELDS:
        if n in values and values[n] is None:
            del values[n]
    return values


#: the event's columns, in table order (``readings`` is a table of its own)
EVENT_FIELDS: Final = tuple(f.name for f in fields(GateEvent) if f.name != "readings")
READING_FIELDS: Final = tuple(f.name for f in fields(EventReading))
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
    if kind is datetime:
        return lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind is date:
        return lambda v: v.isoformat()
    if kind is bool:
        return int
    return None


_TO_ROW = [(i, f) for i, n in enumerate(EVENT_FIELDS)
           if (f := _row_value(_kind(GateEvent, n))) is not None]
_ISO_FIELDS = tuple(n for n in EVENT_FIELDS if _kind(GateEvent, n) in (datetime, date))


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


def _from_row(model: type, names: Sequence[str]
              ) -> Callable[[Sequence[Any]], EventJson]:
    convs = [(n, f) for n in names if (f := _json_from_row_value(_kind(model, n))) is not None]

    def to_json(raw: Sequence[Any]) -> EventJson:
        values = dict(zip(names, raw, strict=True))
        for n, f in convs:
            values[n] = f(values[n])
        return _drop_unset_later(values)

    return to_json


#: a raw row (EVENT_FIELDS order) -> the event's JSON form without ``readings``
json_from_row: Final = _from_row(GateEvent, EVENT_FIELDS)
#: a raw reading row (READING_FIELDS order) -> the reading's JSON form
reading_json_from_row: Final = _from_row(EventReading, READING_FIELDS)


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
NOT_HASHED: Final = frozenset(PERSONAL_FIELDS) | {"hash"}


def _iso(v: Any) -> str:
    """Dates and datetimes as the hash chain has always written them: ``isoformat()``."""
    if isinstance(v, datetime | date):
        return v.isoformat()
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


#: one encoder for every hash (json.dumps with these arguments builds a new one per call);
#: it keeps no state between calls, so threads share it
_ENCODER = json.JSONEncoder(default=_iso, sort_keys=True, ensure_ascii=False,
                            separators=(",", ":"))


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes the hash chain is computed over: sorted keys, no spaces, UTF-8, dates as
    ``isoformat()``. These bytes must never change (every kiosk's stored chain is computed
    over them): tests/sync/test_sync_canonical.py compares them with the original form."""
    return _ENCODER.encode(body).encode()


def personal_digest(values: EventJson) -> str:
    return hashlib.sha256(canonical({k: values.get(k) for k in PERSONAL_FIELDS})).hexdigest()


def is_anonymised(values: EventJson) -> bool:
    return all(values.get(k) in (None, "") for k in PERSONAL_FIELDS)


def event_hash(values: EventJson, readings: Sequence[ReadingJson]) -> str:
    """SHA-256 over ``prev_hash``, the event's non-personal content, the digest of its
    personal fields and its readings: altering or deleting an earlier record breaks every
    later hash, while wiping personal data for retention does not."""
    body = {k: v for k, v in values.items()
            if k not in NOT_HASHED and not (v is None and k in LATER_FIELDS)}
    body["readings"] = readings
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
