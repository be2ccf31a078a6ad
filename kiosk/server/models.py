"""SQLAlchemy models of the central store (the district command's copy of every gate event).

The server has its own metadata and its own Alembic migrations (``migrations_server/``); the
kiosk's local models are not reused because the central store keeps different facts: which
device may post, what the command publishes, and what looked wrong.

On PostgreSQL the ``events`` table is partitioned by ``local_date`` (one partition a day,
made on demand); its primary key therefore includes ``local_date``. Exactly-once is kept by
the ingest path, which holds the posting device's row lock while it checks and inserts.

Every ``DateTime`` column is naive UTC: the kiosks' times (``wall_utc``) and every time the
store takes of itself (kiosk.server.clock.utc_now; server migrations 0007, 0014, 0015 moved
rows written in the server's local time). The dashboard and the CLI show them in the
command's zone.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kiosk.store.models import NAMING_CONVENTION


class ServerBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DeviceRow(ServerBase):
    """An enrolled kiosk. Only the SHA-256 of its secret is kept (see kiosk.server.auth)."""

    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40))
    compound: Mapped[str] = mapped_column(String(40))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime] = mapped_column(DateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: naive UTC, as ``data_as_of`` (server migration 0013 moved older rows from local time)
    last_contact: Mapped[datetime | None] = mapped_column(DateTime)
    #: events waiting in the kiosk's outbox, as it said at its last contact
    pending: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    #: highest sequence number stored for this device
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    #: JSON list of [first, last] ranges of sequence numbers below ``last_seq`` not stored;
    #: kept up to date per batch, so reporting gaps never rescans the device's events
    gaps: Mapped[str] = mapped_column(Text, default="[]")
    #: the kiosk's wall clock minus the server's at its last contact (seconds; positive: the
    #: kiosk is fast). Events are never re-stamped; the dashboard shows a clock that is off.
    clock_offset_s: Mapped[float | None] = mapped_column(Float)
    #: ``kiosk`` (a gate) or ``hub`` (a compound hub relaying its gates' events:
    #: kiosk.server.hub)
    role: Mapped[str] = mapped_column(String(8), default="kiosk", server_default="kiosk")
    #: the hub that relayed this gate's last batch (its device id); None when the gate's
    #: last batch came to this store directly
    via_hub: Mapped[str | None] = mapped_column(String(36))
    #: since when (naive UTC) the roster, revocations and keys at the kiosk are the
    #: command's, from its last push's X-Kiosk-Data-Age; None with ``data_reported``: never
    data_as_of: Mapped[datetime | None] = mapped_column(DateTime)
    #: the kiosk has reported its data age (older kiosks do not)
    data_reported: Mapped[bool] = mapped_column(Boolean, default=False,
                                                server_default=false())
    #: the command's rule set the kiosk decides with, as it said at its last contact
    #: (X-Kiosk-Rules; None: its own settings, or an older kiosk)
    rules_version: Mapped[int | None] = mapped_column(Integer)


class DeviceKeyRow(ServerBase):
    """A device's Ed25519 public key (kiosk.core.signing): every event of the device from
    sequence number ``from_seq`` on must carry a valid signature by it. Rows are only ever
    added: a device's first key comes with its enrolment or, for a kiosk enrolled before
    keys, once over its own authenticated connection (trust on first use, audited); a new
    key only with a replacement enrolment (``kiosk serve enrol --replace``)."""

    __tablename__ = "device_keys"
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    from_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    public_key_hex: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(DateTime)
    #: how the key came: "enrolment", "first use" or "replacement"
    how: Mapped[str] = mapped_column(String(20))


class EnrolmentCodeRow(ServerBase):
    """A one-time code printed by ``kiosk serve enrol``; stored hashed, used once."""

    __tablename__ = "enrolment_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40))
    compound: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    device_id: Mapped[str | None] = mapped_column(String(36))
    #: a replacement code (``kiosk serve enrol --replace ID``): the one enrolled device id it
    #: may re-bind (a reinstalled kiosk); any other code refuses an id already enrolled
    replaces: Mapped[str | None] = mapped_column(String(36))
    #: the role the code enrols (``kiosk`` or ``hub``)
    role: Mapped[str] = mapped_column(String(8), default="kiosk", server_default="kiosk")


class EventRow(ServerBase):
    """One gate event as the kiosk recorded it: ``record`` is the kiosk's row with its readings
    (JSON), kept verbatim so the hash chain can be verified again at any time; the other
    columns are copies for queries."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_device_seq", "device_id", "seq"),
        Index("ix_events_compound_change", "compound", "change_id"),
        Index("ix_events_household_day", "household", "local_date"),
        # confirmed fevers of the last days, made into cases (kiosk.server.cases)
        Index("ix_events_escalated_day", "escalated", "local_date"),
        # the correction naming a movement undone at the gate (kiosk.server.ingest.UNDONE)
        Index("ix_events_corrects", "corrects_event_id"),
        # a day's events: the primary key (local_date, id) and, on PostgreSQL, the partition
    )
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    wall_utc: Mapped[datetime] = mapped_column(DateTime)
    checkpoint: Mapped[str] = mapped_column(String(40))
    compound: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    pass_number: Mapped[str | None] = mapped_column(String(40))
    household: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(20))
    counts_against_quota: Mapped[bool] = mapped_column(Boolean)
    escalated: Mapped[bool] = mapped_column(Boolean)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)
    #: when the central store stored it, naive UTC like ``wall_utc`` (server migration 0007
    #: moved older rows from the server's local time)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    #: position in the compound's change stream (the download cursor)
    change_id: Mapped[int] = mapped_column(BigInteger)
    #: for a correction (an undo at the gate), the movement it undoes: that movement did
    #: not happen, so no count, quota or "who is out" takes it
    corrects_event_id: Mapped[str | None] = mapped_column(String(36))


class FindingRow(ServerBase):
    """Something the command must look at: an altered record, a broken chain, a sequence
    number used twice, a rejected event, two gates that spent one household's outing."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: naive UTC (server migration 0013 moved older rows from the server's local time)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    device_id: Mapped[str] = mapped_column(String(36))
    checkpoint: Mapped[str] = mapped_column(String(40))
    compound: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str] = mapped_column(Text, default="")
    #: when the finding stopped standing (a quota conflict whose outing was undone at the
    #: gate: kiosk.server.conflicts), and why; the row itself stays (the trail)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    withdrawn_why: Mapped[str | None] = mapped_column(Text)


class CounterRow(ServerBase):
    """Change-stream counters: ``admin`` for what the command publishes, ``compound:NAME``
    for each compound's events. Taking the row lock orders commits, so a cursor never skips
    a change that commits late."""

    __tablename__ = "counters"
    scope: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class RosterEntryRow(ServerBase):
    """One pass on the command's roster, with its holder (what a kiosk's roster import takes)."""

    __tablename__ = "roster"
    __table_args__ = (Index("ix_roster_compound_change", "compound", "change_id"),)
    pass_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    compound: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    building: Mapped[str] = mapped_column(String(20), default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    room: Mapped[str] = mapped_column(String(20), default="")
    household: Mapped[str] = mapped_column(String(40), default="")
    phone: Mapped[str] = mapped_column(String(30), default="")
    kind: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    change_id: Mapped[int] = mapped_column(BigInteger)


class RevocationEntryRow(ServerBase):
    __tablename__ = "revocations"
    pass_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    revoked_at: Mapped[datetime] = mapped_column(DateTime)
    change_id: Mapped[int] = mapped_column(BigInteger, index=True)


class PassKeyEntryRow(ServerBase):
    __tablename__ = "pass_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key_hex: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    change_id: Mapped[int] = mapped_column(BigInteger, index=True)


class PolicyEntryRow(ServerBase):
    """A kiosk setting the command sets for every kiosk (``quota.outings``, ``quota.days``,
    ``screening.fever_threshold_c``); the value is the text ``kiosk config set`` takes."""

    __tablename__ = "policy"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    change_id: Mapped[int] = mapped_column(BigInteger, index=True)


class VolunteerEntryRow(ServerBase):
    """A volunteer the command registered for a compound's gates: the argon2id hash of the
    PIN travels, never the PIN (kiosks sign volunteers in offline with it)."""

    __tablename__ = "volunteers"
    __table_args__ = (Index("ix_volunteers_compound_change", "compound", "change_id"),)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    compound: Mapped[str] = mapped_column(String(40), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    pin_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    change_id: Mapped[int] = mapped_column(BigInteger)


class UserRow(ServerBase):
    """Command staff who may open the dashboard (argon2id password hash); what they may see:
    kiosk.server.roles."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    role: Mapped[str] = mapped_column(String(16), default="district",
                                      server_default="district")
    #: the one compound a compound user or a compound's viewer sees (None: every compound)
    compound: Mapped[str | None] = mapped_column(String(40))


class SessionRow(ServerBase):
    """A dashboard login; the cookie holds the token, the table its SHA-256."""

    __tablename__ = "sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ServerAuditRow(ServerBase):
    """Who did what on the central store: sign-ins (and failed ones), dashboard views,
    exports, look-ups, what the command published, enrolments, retention. Only ever added.
    ``client`` is the request's address (empty for the command line); failed sign-ins and
    enrolments are counted from here to slow down guessing (kiosk.server.ratelimit)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_client_at", "action", "client", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # staff user, "cli:<user>", device id
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str] = mapped_column(String(64), default="")


class AttemptRow(ServerBase):
    """One sign-in or enrolment attempt, written *before* the password or code is checked
    (in the transaction that counts the earlier ones), so concurrent guesses cannot all pass
    the count; ``failed`` turns false when the attempt succeeds (kiosk.server.ratelimit)."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_kind_at", "kind", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "sign_in", "enrol"
    at: Mapped[datetime] = mapped_column(DateTime)
    user: Mapped[str] = mapped_column(String(100), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    failed: Mapped[bool] = mapped_column(Boolean, default=True)


class DeviceVolunteerRow(ServerBase):
    """A kiosk's volunteer ids and names: an event carries the id the kiosk gave its
    volunteer, which means something only together with the device (the district export
    names the volunteer with it)."""

    __tablename__ = "device_volunteers"
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class CentralSummaryRow(ServerBase):
    """A day's counts at one checkpoint (and the district total), frozen by the central
    store's retention just before that day's personal fields are wiped, as on a kiosk
    (kiosk.store.models.DailySummaryRow): the nightly summary stays the same afterwards."""

    __tablename__ = "daily_summaries"
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    counts: Mapped[str] = mapped_column(Text)
    #: naive UTC: compared with the events' ``received_at`` (late arrivals)
    frozen_at: Mapped[datetime] = mapped_column(DateTime)


class FeverCaseRow(ServerBase):
    """A confirmed fever (an escalated event) followed to the end (kiosk.server.cases):
    opened when the store first sees the event, its ``state`` the latest step entered on
    the dashboard; ``closed_at`` set by the step that ends it (cleared)."""

    __tablename__ = "fever_cases"
    __table_args__ = (Index("ix_fever_cases_compound_closed", "compound", "closed_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    local_date: Mapped[date] = mapped_column(Date)
    compound: Mapped[str] = mapped_column(String(40))
    checkpoint: Mapped[str] = mapped_column(String(40))
    pass_number: Mapped[str | None] = mapped_column(String(40))
    household: Mapped[str | None] = mapped_column(String(40))
    #: when the gate recorded the fever (UTC, the event's wall_utc)
    opened_utc: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


class FeverCaseStepRow(ServerBase):
    """One follow-up step of a case, who entered it and when (server time), with a note.
    Only ever added. A step from a gate (its acknowledgement) names the gate event it came
    from, once."""

    __tablename__ = "fever_case_steps"
    __table_args__ = (Index("ux_fever_case_steps_event_id", "event_id", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    step: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    #: the gate event the step records (an acknowledgement); None: entered on the dashboard
    event_id: Mapped[str | None] = mapped_column(String(36))


class RelayOutboxRow(ServerBase):
    """On a compound hub: a gate's event stored here, for the district. ``record`` is the
    event's JSON object exactly as the kiosk sent it (every key, those this version does
    not know included), so the district verifies it as the kiosk's own. A row is marked
    acknowledged (``acked_at``) only in the transaction that takes the district's
    acknowledgement, and trimmed a short while later; an unacknowledged row is never
    deleted."""

    __tablename__ = "relay_outbox"
    __table_args__ = (Index("ix_relay_outbox_quarantined_id", "quarantined", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    record: Mapped[str] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(DateTime)
    #: the district refused it (its reason in ``last_error``): kept, never sent again
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: when the district acknowledged it (None: still to send); kept for diagnosis for
    #: kiosk.server.hub.RELAY_KEEP_S, then trimmed
    acked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class HubMovementRow(ServerBase):
    """On a compound hub: an allowed movement of its compound the district knows and the hub
    did not receive itself (a gate that synced with the district directly). Served to the
    hub's gates in the compound's change stream, beside the hub's own events."""

    __tablename__ = "hub_movements"
    __table_args__ = (Index("ix_hub_movements_compound_change", "compound", "change_id"),
                      # the hub's quota check (kiosk.server.conflicts.spent_exits)
                      Index("ix_hub_movements_household", "compound", "household",
                            "local_date"))
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    checkpoint: Mapped[str] = mapped_column(String(40))
    compound: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    pass_number: Mapped[str] = mapped_column(String(40))
    household: Mapped[str | None] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    local_date: Mapped[date] = mapped_column(Date)
    wall_utc: Mapped[datetime] = mapped_column(DateTime)
    counts_against_quota: Mapped[bool] = mapped_column(Boolean)
    change_id: Mapped[int] = mapped_column(BigInteger)


class HubStateRow(ServerBase):
    """On a compound hub: its link to the district (URL, download cursor, last success and
    error, the district's view of each gate), key/value."""

    __tablename__ = "hub_state"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class GateDayRow(ServerBase):
    """A gate's day by the reason recorded: allowed movements in and out, denials, confirmed
    fevers. Kept by ingest in the batch's transaction (kiosk.server.tallies), so the
    dashboard never counts events; an undone movement is taken off again."""

    __tablename__ = "gate_days"
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    compound: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    reason: Mapped[str] = mapped_column(String(20), primary_key=True)
    moves_in: Mapped[int] = mapped_column(Integer, default=0)
    moves_out: Mapped[int] = mapped_column(Integer, default=0)
    denials: Mapped[int] = mapped_column(Integer, default=0)
    fevers: Mapped[int] = mapped_column(Integer, default=0)


class GateHourRow(ServerBase):
    """A gate's allowed movements in one hour (UTC, of the kiosk's ``wall_utc``) of a day;
    kept like GateDayRow."""

    __tablename__ = "gate_hours"
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    compound: Mapped[str] = mapped_column(String(40), primary_key=True)
    checkpoint: Mapped[str] = mapped_column(String(40), primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)
    moves_in: Mapped[int] = mapped_column(Integer, default=0)
    moves_out: Mapped[int] = mapped_column(Integer, default=0)


class LastMovementRow(ServerBase):
    """Each pass's newest allowed movement (not undone) in a compound: "who is out" is the
    rows whose direction is out, read without scanning events. ``at`` is when it happened
    as far as can be trusted (the kiosk's time, never after the store received it)."""

    __tablename__ = "last_movements"
    #: every movement rewrites its pass's row, and the new version enters every index: so
    #: besides the key only the passes that are out, in the order "who is out" lists them
    #: (migration 0017)
    __table_args__ = (Index("ix_last_movements_out_at", "at", "pass_number",
                            postgresql_where=text("direction = 'out'"),
                            sqlite_where=text("direction = 'out'")),)
    compound: Mapped[str] = mapped_column(String(40), primary_key=True)
    pass_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    household: Mapped[str | None] = mapped_column(String(40))
    checkpoint: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(3))
    at: Mapped[datetime] = mapped_column(DateTime)
    change_id: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[date] = mapped_column(Date)
    event_id: Mapped[str] = mapped_column(String(36))


class OutCountRow(ServerBase):
    """How many passes of a compound are out, by the day of their last movement (an out):
    "who is out" counted is the sum over the last 14 days. Kept with last_movements."""

    __tablename__ = "out_counts"
    compound: Mapped[str] = mapped_column(String(40), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class UndoneEventRow(ServerBase):
    """An event a correction event (``corrects_event_id``) says did not happen; kept whether
    or not the movement itself has arrived yet, so it is never counted either way."""

    __tablename__ = "undone_events"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date)


class RuleSetRow(ServerBase):
    """A numbered rule set the command published (kiosk.core.rules): its canonical body,
    signed on the command's machine; sent to every kiosk in /changes (the admin stream)."""

    __tablename__ = "rule_sets"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_utc: Mapped[datetime] = mapped_column(DateTime)
    body: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
    published_at: Mapped[datetime] = mapped_column(DateTime)
    published_by: Mapped[str] = mapped_column(String(100))
    change_id: Mapped[int] = mapped_column(BigInteger, index=True)


class HubUndoneRow(ServerBase):
    """On a compound hub: a movement the district says was undone at its gate (a gate that
    synced with the district directly), with a change id of the hub's compound stream, so
    the hub's gates that already hold the movement drop it (``undone`` in /changes)."""

    __tablename__ = "hub_undone"
    __table_args__ = (Index("ix_hub_undone_compound_change", "compound", "change_id"),)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    compound: Mapped[str] = mapped_column(String(40))
    change_id: Mapped[int] = mapped_column(BigInteger)


class HeldEventRow(ServerBase):
    """At the district: a gate's event relayed by a compound hub while the district has no
    key for that gate (a kiosk enrolled before keys that registered nowhere yet). Neither
    stored nor refused: kept as the hub sent it until the gate registers its key over its
    own connection, then ingested and checked against that key (kiosk.server.hub,
    "held"). ``via`` is the hub's device id."""

    __tablename__ = "held_events"
    __table_args__ = (Index("ix_held_events_device_seq", "device_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    record: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(DateTime)
