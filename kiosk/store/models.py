"""The tables of the kiosk's local SQLite store (SQLAlchemy Core).

The migrations in ``migrations/versions`` are the only thing that creates or changes these
tables; tests/test_migrations.py fails when the two disagree.

Core tables, not ORM classes: nothing on the kiosk maps rows to objects, and
``sqlalchemy.orm`` costs about 6 MB of a Pi's memory (issue 13, docs/BENCHMARKS.md). The
gate event's two tables are made from the fields of kiosk.core.event (``field_specs``), so a
new field of the event is a new column here without a second declaration.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any, Final, cast

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

from kiosk.core.clock import ClockState
from kiosk.core.decision import Outcome
from kiosk.core.event import EventReading, FieldSpec, GateEvent, IdentifiedBy, field_specs
from kiosk.core.messages import Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.screening import ReadingSource, ReadingState

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: Any) -> Table:
    """The Core table of a kiosk table (itself) or of a central store's ORM model
    (``__table__``, typed as a Table: it is typed as FromClause)."""
    return model if isinstance(model, Table) else cast(Table, model.__table__)


def _text(name: str, length: int, **kw: Any) -> Column[Any]:
    return Column(name, String(length), nullable=False, **kw)


#: small key/value facts about this store (e.g. that the demo compound was made)
Meta: Final = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: a person on the roster; non-residents with a pass (suppliers, outside workers) are on the
#: roster too, their building/unit/room may be empty
ResidentRow: Final = Table(
    "residents", metadata,
    Column("id", Integer, primary_key=True),
    _text("name", 100),
    _text("building", 20, default=""),
    _text("unit", 20, default=""),
    _text("room", 20, default=""),
    _text("household", 40, default="", index=True),
    _text("phone", 30, default=""),
    Column("updated_at", DateTime, nullable=False),
    # pinyin initials of the name, upper case (张三明: ZSM), for name search on the gate
    # pad; None until filled (kiosk.store.roster.fill_initials)
    Column("initials", String(40), index=True, default=None),
    UniqueConstraint("name", "building", "unit", "room"),
)

PassRow: Final = Table(
    "passes", metadata,
    Column("id", Integer, primary_key=True),
    _text("number", 40, unique=True),
    _text("kind", 16),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("resident_id", ForeignKey("residents.id", ondelete="RESTRICT"), index=True),
    Column("updated_at", DateTime, nullable=False),
)

VolunteerRow: Final = Table(
    "volunteers", metadata,
    Column("id", Integer, primary_key=True),
    _text("name", 100, unique=True),
    _text("role", 16, default="volunteer"),
    # argon2id hash of the PIN; never the PIN itself
    _text("pin_hash", 200),
    Column("active", Boolean, nullable=False, default=True),
    # wrong PINs in a row; reaching the limit locks sign-in until locked_until
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", DateTime),
)

#: a volunteer's turn at the gate, from PIN sign-in to sign-out (handover)
ShiftRow: Final = Table(
    "shifts", metadata,
    Column("id", Integer, primary_key=True),
    Column("volunteer_id", ForeignKey("volunteers.id"), nullable=False, index=True),
    _text("checkpoint", 40),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
)

#: a revoked pass number (from the command via sync, or entered by an admin); checked on
#: every scan, including passes that are not on the local roster (signed QR passes)
RevocationRow: Final = Table(
    "revocations", metadata,
    Column("pass_number", String(40), primary_key=True),
    Column("revoked_at", DateTime, nullable=False),
    _text("reason", 200, default=""),
    _text("source", 16, default="local"),  # local | sync
)

#: a public key of a pass-issuing office (Ed25519, hex); several at once for rotation
PassKeyRow: Final = Table(
    "pass_keys", metadata,
    Column("key_id", String(16), primary_key=True),
    _text("public_key_hex", 64),
    Column("added_at", DateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
)

#: who looked up or exported personal data, when, and what (privacy audit trail); ``at`` in
#: naive UTC with the kiosk's offset then, as the events (kiosk.store.audit, migration 0010)
AuditRow: Final = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False, index=True),
    _text("actor", 100),  # volunteer name, or "cli:<user>"
    _text("action", 40),  # lookup, export, purge, ...
    Column("detail", Text, nullable=False, default=""),
    Column("utc_offset_min", Integer, nullable=False, default=0),
)

#: one finished nightly export, so missed nights are caught up after the kiosk was off
ExportRunRow: Final = Table(
    "export_runs", metadata,
    Column("local_date", Date, primary_key=True),
    Column("finished_at", DateTime, nullable=False),
    Column("directory", Text, nullable=False),
    _text("status", 16),  # ok | failed
    Column("detail", Text, nullable=False, default=""),
)

#: a day's counts at one checkpoint, frozen by retention just before the day's personal
#: fields are wiped: unique residents, visitors and "still out" need the personal fields,
#: and the daily report must give the same numbers after the purge as before
DailySummaryRow: Final = Table(
    "daily_summaries", metadata,
    Column("local_date", Date, primary_key=True),
    Column("checkpoint", String(40), primary_key=True),
    # JSON object of the counts (kiosk.export.nightly.SUMMARY_KEYS)
    Column("counts", Text, nullable=False),
    Column("frozen_at", DateTime, nullable=False),
)

#: events waiting to reach the central store; written in the same transaction as the
#: event, removed only when the server acknowledged it
OutboxRow: Final = Table(
    "outbox", metadata,
    # this device's event sequence number; the rowid, so queuing costs one b-tree page
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", ForeignKey("gate_events.id"), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=False, default=""),
    Column("quarantined", Boolean, nullable=False, default=False),
)


# --- the gate event's tables, made from kiosk.core.event ------------------------------------

#: the column width of each enumeration of the event (fixed by the released migrations); an
#: enumeration not listed gets its longest value's length
ENUM_WIDTHS: Final[dict[type, int]] = {
    ClockState: 16, Direction: 3, IdentifiedBy: 16, PassKind: 16, Outcome: 10, Reason: 20,
    ReadingState: 16, ReadingSource: 8,
}
#: texts longer than this are TEXT columns (the note)
_LONGEST_VARCHAR: Final = 255


def _sql_type(spec: FieldSpec) -> TypeEngine[Any]:
    kind = spec.kind
    if isinstance(kind, type) and issubclass(kind, Enum):
        width = ENUM_WIDTHS.get(kind) or max(len(str(m.value)) for m in kind)
        return String(width)
    if kind is str:
        if spec.max_length is None or spec.max_length > _LONGEST_VARCHAR:
            return Text()
        return String(spec.max_length)
    plain: dict[type, TypeEngine[Any]] = {int: Integer(), float: Float(), bool: Boolean(),
                                          date: Date(), datetime: DateTime()}
    return plain[kind]


def event_columns(model: type, keys: dict[str, dict[str, Any]]) -> list[Column[Any]]:
    """The columns of an event table, one per field of ``model`` in field order: the SQL
    type from the field's type and limit, NULL allowed when the field is optional; ``keys``
    adds the store's own parts (primary and foreign keys, defaults) by column name."""
    columns = []
    for spec in field_specs(model):
        extra = dict(keys.get(spec.name, {}))
        fk = extra.pop("fk", None)
        args: list[Any] = [ForeignKey(fk)] if fk else []
        extra.setdefault("default", spec.default)
        columns.append(Column(spec.name, _sql_type(spec), *args,
                              nullable=spec.optional and not extra.get("primary_key"),
                              **extra))
    return columns


#: one movement decision at the gate: append-only evidence. Triggers made by the migrations
#: refuse UPDATE and DELETE; a correction is a new event whose ``corrects_event_id`` names
#: the old one. ``wall_utc`` is never adjusted: when the clock was not trustworthy
#: ``clock_state`` says so, and ``seq`` keeps the true order. ``personal_digest`` keeps the
#: chain verifiable after retention wipes the personal fields (kiosk.core.event).
GateEventRow: Final = Table(
    "gate_events", metadata,
    *event_columns(GateEvent, {
        "id": {"primary_key": True},
        "volunteer_id": {"fk": "volunteers.id"},
        "pass_id": {"fk": "passes.id"},
        "resident_id": {"fk": "residents.id"},
        "corrects_event_id": {"fk": "gate_events.id"},
        "note": {"default": ""},
    }),
    UniqueConstraint("device_id", "seq"),
    Index("ix_gate_events_household_day", "household", "local_date"),
    Index("ix_gate_events_pass_seq", "pass_number", "seq"),
    # the nightly export reads one day in file order; retention finds old days
    Index("ix_gate_events_day_order", "local_date", "checkpoint", "device_id", "seq"),
    # the quota, the last direction and the export skip corrected movements: found through
    # this. Partial (migration 0009): almost every event corrects none, and with the NULLs
    # indexed, ANALYZE's statistics (or PRAGMA optimize) say a value matches every row, so
    # SQLite scanned the whole table for each event of the export's day instead
    Index("ix_gate_events_corrects", "corrects_event_id",
          sqlite_where=text("corrects_event_id IS NOT NULL")),
)

#: a temperature reading kept with its event; both readings of a re-measure are kept,
#: clustered on (event, ordinal): one b-tree, written once per event
ReadingRow: Final = Table(
    "readings", metadata,
    *event_columns(EventReading, {
        "event_id": {"primary_key": True, "fk": "gate_events.id"},
        "ordinal": {"primary_key": True},
    }),
    sqlite_with_rowid=False,
)

#: an allowed movement recorded at another gate of this compound, downloaded by sync
#: (kiosk.sync): so a resident who went out at gate 3 is "out" at gate 1, and an outing
#: spent anywhere counts against the household's quota here (kiosk.store.roster)
RemoteMovementRow: Final = Table(
    "remote_movements", metadata,
    Column("event_id", String(36), primary_key=True),
    _text("device_id", 36),
    _text("checkpoint", 40),
    Column("seq", Integer, nullable=False),
    _text("pass_number", 40),
    Column("household", String(40)),
    _text("direction", 3),
    Column("local_date", Date, nullable=False),
    Column("wall_utc", DateTime, nullable=False),
    Column("counts_against_quota", Boolean, nullable=False),
    Index("ix_remote_movements_household_day", "household", "local_date"),
    Index("ix_remote_movements_pass_wall", "pass_number", "wall_utc"),
)

#: what the district command did about a confirmed fever recorded here, as the central store
#: last said (``cases`` in /changes, kiosk.sync): the case's state (taken over, sent to the
#: fever clinic, cleared, ...) and when it changed (the central store's time, as it sent it),
#: by the fever's event id. Replaced whole at every pull; the gate shows it to the team leader.
FeverCaseRow: Final = Table(
    "fever_cases", metadata,
    Column("event_id", String(36), primary_key=True),
    _text("state", 20),
    Column("updated_at", DateTime, nullable=False),
)

#: a rule set the command published (kiosk.core.rules), kept as it came: stored only when its
#: signature verified, and verified again before it is applied
RuleSetRow: Final = Table(
    "rule_sets", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("effective_utc", DateTime, nullable=False),
    Column("body", Text, nullable=False),
    _text("key_id", 16),
    _text("signature", 100),
    Column("received_at", DateTime, nullable=False),
)
