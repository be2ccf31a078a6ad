"""SQLAlchemy models of the kiosk's local SQLite store.

The migrations in ``migrations/versions`` are the only thing that creates or changes these
tables; tests/test_migrations.py fails when the two disagree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    Boolean,
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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core table of a model (kiosk or central store), typed as a Table
    (``__table__`` is typed as FromClause)."""
    return cast(Table, model.__table__)


class Meta(Base):
    """Small key/value facts about this store (e.g. that the demo compound was made)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ResidentRow(Base):
    """A person on the roster. Non-residents with a pass (suppliers, outside workers) are on
    the roster too; their building/unit/room may be empty."""

    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("name", "building", "unit", "room"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    building: Mapped[str] = mapped_column(String(20), default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    room: Mapped[str] = mapped_column(String(20), default="")
    household: Mapped[str] = mapped_column(String(40), default="", index=True)
    phone: Mapped[str] = mapped_column(String(30), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    #: pinyin initials of the name, upper case (张三明: ZSM), for name search on the gate
    #: pad; None until filled (kiosk.store.roster.fill_initials)
    initials: Mapped[str | None] = mapped_column(String(40), index=True, default=None)


class PassRow(Base):
    __tablename__ = "passes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="RESTRICT"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class VolunteerRow(Base):
    __tablename__ = "volunteers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="volunteer")
    #: argon2id hash of the PIN; never the PIN itself
    pin_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: wrong PINs in a row; reaching the limit locks sign-in until ``locked_until``
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class ShiftRow(Base):
    """A volunteer's turn at the gate, from PIN sign-in to sign-out (handover)."""

    __tablename__ = "shifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteers.id"), index=True)
    checkpoint: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class RevocationRow(Base):
    """A revoked pass number (from the command via sync, or entered by an admin); checked on
    every scan, including passes that are not on the local roster (signed QR passes)."""

    __tablename__ = "revocations"
    pass_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(16), default="local")  # local | sync


class PassKeyRow(Base):
    """A public key of a pass-issuing office (Ed25519, hex); several at once for rotation."""

    __tablename__ = "pass_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key_hex: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditRow(Base):
    """Who looked up or exported personal data, when, and what (privacy audit trail)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # volunteer name, or "cli:<user>"
    action: Mapped[str] = mapped_column(String(40))  # lookup, export, purge, ...
    detail: Mapped[str] = mapped_column(Text, default="")


class ExportRunRow(Base):
    """One finished nightly export, so missed nights are caught up after the kiosk was off."""

    __tablename__ = "export_runs"
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    directory: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # ok | failed
    detail: Mapped[str] = mapped_column(Text, default="")


class DailySummaryRow(Base):
    """A day's counts at one checkpoint, frozen by retention just before the day's personal
    fields are wiped: unique residents, visitors and "still out" need the personal fields, and
    the daily report must give the same numbers after the purge as before."""

    __tablename__ = "daily_summaries"
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: JSON object of the counts (kiosk.export.nightly.SUMMARY_KEYS)
    counts: Mapped[str] = mapped_column(Text)
    frozen_at: Mapped[datetime] = mapped_column(DateTime)


class OutboxRow(Base):
    """Events waiting to reach the central store; written in the same transaction as the
    event, removed only when the server acknowledged it."""

    __tablename__ = "outbox"
    #: this device's event sequence number; the rowid, so queuing costs one b-tree page
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(ForeignKey("gate_events.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)


class GateEventRow(Base):
    """One movement decision at the gate: append-only evidence.

    Triggers made by the migrations refuse UPDATE and DELETE; a correction is a new event
    whose ``corrects_event_id`` names the old one. ``wall_utc`` is never adjusted: when the
    clock was not trustworthy ``clock_state`` says so, and ``seq`` keeps the true order.
    """

    __tablename__ = "gate_events"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index("ix_gate_events_household_day", "household", "local_date"),
        Index("ix_gate_events_pass_seq", "pass_number", "seq"),
        # the nightly export reads one day in file order; retention finds old days
        Index("ix_gate_events_day_order", "local_date", "checkpoint", "device_id", "seq"),
        # the quota and the last direction skip corrected movements: found through this
        Index("ix_gate_events_corrects", "corrects_event_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID4
    device_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    wall_utc: Mapped[datetime] = mapped_column(DateTime)
    utc_offset_min: Mapped[int] = mapped_column(Integer)
    local_date: Mapped[date] = mapped_column(Date)
    monotonic_s: Mapped[float] = mapped_column(Float)
    boot_id: Mapped[str] = mapped_column(String(64))
    clock_state: Mapped[str] = mapped_column(String(16))
    checkpoint: Mapped[str] = mapped_column(String(40))
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("volunteers.id"))
    direction: Mapped[str] = mapped_column(String(3))
    identified_by: Mapped[str] = mapped_column(String(16))
    #: as presented, even when it matched nothing
    pass_number: Mapped[str | None] = mapped_column(String(40))
    pass_id: Mapped[int | None] = mapped_column(ForeignKey("passes.id"))
    pass_kind: Mapped[str | None] = mapped_column(String(16))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    household: Mapped[str | None] = mapped_column(String(40))
    visitor_name: Mapped[str | None] = mapped_column(String(100))
    visitor_phone: Mapped[str | None] = mapped_column(String(30))
    visitor_reason: Mapped[str | None] = mapped_column(String(200))
    host_building: Mapped[str | None] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(20))
    counts_against_quota: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean)
    fever_threshold_c: Mapped[float] = mapped_column(Float)
    forehead_offset_c: Mapped[float] = mapped_column(Float)
    corrects_event_id: Mapped[str | None] = mapped_column(ForeignKey("gate_events.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    #: SHA-256 of the personal fields (PERSONAL_FIELDS): kept when retention wipes them, so
    #: the hash chain still verifies after anonymisation
    personal_digest: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the previous event of this device (hex), "" for the first one
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 over prev_hash, the non-personal content, personal_digest and the readings
    hash: Mapped[str] = mapped_column(String(64))
    #: the command's rule set the decision was made with (kiosk.core.rules); None: the
    #: kiosk's own settings (added later: not in the hash while None)
    rules_version: Mapped[int | None] = mapped_column(Integer)


class ReadingRow(Base):
    """A temperature reading kept with its event; both readings of a re-measure are kept."""

    __tablename__ = "readings"
    #: clustered on (event, ordinal): one b-tree, written once per event
    __table_args__ = {"sqlite_with_rowid": False}
    event_id: Mapped[str] = mapped_column(ForeignKey("gate_events.id"), primary_key=True)
    ordinal: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    object_c: Mapped[float | None] = mapped_column(Float)
    ambient_c: Mapped[float | None] = mapped_column(Float)
    used_c: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))
    device: Mapped[str] = mapped_column(String(100), default="")
    protocol: Mapped[str] = mapped_column(String(30), default="")


class RemoteMovementRow(Base):
    """An allowed movement recorded at another gate of this compound, downloaded by sync
    (kiosk.sync): so a resident who went out at gate 3 is "out" at gate 1, and an outing
    spent anywhere counts against the household's quota here (kiosk.store.roster)."""

    __tablename__ = "remote_movements"
    __table_args__ = (
        Index("ix_remote_movements_household_day", "household", "local_date"),
        Index("ix_remote_movements_pass_wall", "pass_number", "wall_utc"),
    )
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    checkpoint: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    pass_number: Mapped[str] = mapped_column(String(40))
    household: Mapped[str | None] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    local_date: Mapped[date] = mapped_column(Date)
    wall_utc: Mapped[datetime] = mapped_column(DateTime)
    counts_against_quota: Mapped[bool] = mapped_column(Boolean)


class RuleSetRow(Base):
    """A rule set the command published (kiosk.core.rules), kept as it came: stored only
    when its signature verified, and verified again before it is applied."""

    __tablename__ = "rule_sets"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_utc: Mapped[datetime] = mapped_column(DateTime)
    body: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime)
