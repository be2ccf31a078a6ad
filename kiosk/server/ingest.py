"""Taking in a batch of gate events: exactly once, in order, with the chain re-verified.

The body is validated in one pass against the gate event's type (kiosk.core.event): a batch
with any event a kiosk cannot produce (a formula in an enumerated field, an id that is not a
UUID, a huge number, NaN) is refused whole (HTTP 422) and nothing of it is stored. Then each
event's hashes are re-computed: an event whose hash does not match its content is rejected
(the kiosk quarantines it; the command sees a finding) and never blocks the others, and so is
an event of a device with a registered key that does not carry the device's signature
(kiosk.server.devicekeys: forged or altered on the way, by a relay or anyone). The rest is
written in one transaction that holds the posting device's row lock (so a replayed batch
racing its original cannot store an event twice, even though the partitioned table cannot
have a unique index on the event id alone) and the compound's change counter (so download
cursors never skip a late commit).
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.dialects import postgresql

from kiosk.core.event import (
    MAX_ROW_ID,
    MAX_SEQ,
    NOT_HASHED,
    EventJson,
    GateEvent,
    ReadingJson,
    Uuid,
    event_hash,
    is_anonymised,
    personal_body,
    personal_digest,
)
from kiosk.server import tallies
from kiosk.server.cases import record_acknowledgements
from kiosk.server.clock import utc_now
from kiosk.server.conflicts import find as find_conflicts
from kiosk.server.conflicts import withdraw_undone
from kiosk.server.db import Partitions, is_postgres
from kiosk.server.devicekeys import BAD_SIGNATURE, DeviceKeys, load_keys
from kiosk.server.models import (
    DeviceRow,
    DeviceVolunteerRow,
    EventRow,
    FindingRow,
    PolicyEntryRow,
)
from kiosk.store.models import table_of
from kiosk.sync import wire

orjson = wire.orjson  # None on a machine without the wheel: the reference path only

DEV = table_of(DeviceRow)
EV = table_of(EventRow)
FI = table_of(FindingRow)
#: the correction events (undos at a gate), by the movement they undo (ix_events_corrects)
_CORRECTIONS = EV.alias("corrections")
#: this event was undone at the gate: a correction event names it (the movement did not
#: happen: no tally, quota or "who is out" takes it; the record stays, append-only). Not
#: correlated: the few corrections are read once per query (a hashed set), not probed per
#: row in every day's partition
UNDONE = EV.c.id.in_(select(_CORRECTIONS.c.corrects_event_id)
                     .where(_CORRECTIONS.c.corrects_event_id.is_not(None)))
PO = table_of(PolicyEntryRow)
DEVICE_VOLUNTEERS = table_of(DeviceVolunteerRow)

#: more than this in one request is refused as a whole (HTTP 413); the kiosk sends fewer
MAX_BATCH_EVENTS = 5000
#: how far past the device's highest stored seq one batch may reach: a kiosk sends its
#: outbox in order, so a jump this size is no kiosk's (kiosk serve verify, the gap lists)
MAX_SEQ_JUMP = 1_000_000
#: a volunteer's name, as the kiosk's roster of volunteers holds it
VOLUNTEER_NAME_MAX = 100

#: the validator of kiosk.core.event.GateEvent (every limit of the type, readings included);
#: the kiosk checks the same limits with kiosk.core.event.check
EVENT_VALIDATOR: TypeAdapter[GateEvent] = TypeAdapter(GateEvent)

VolunteerId = Annotated[int, Strict(False), Field(ge=1, le=MAX_ROW_ID)]
VolunteerName = Annotated[str, StringConstraints(min_length=1, max_length=VOLUNTEER_NAME_MAX)]


class PushRequest(BaseModel):
    """``POST /api/v1/events``: a batch of a kiosk's gate events, in the codec's JSON form
    (kiosk.core.event), and the names of the kiosk's volunteer ids the events carry (the
    district export shows names). Parsed from the body's bytes in one pass, strictly."""

    model_config = ConfigDict(strict=True, extra="forbid")

    device_id: Uuid
    events: list[GateEvent]
    volunteers: Annotated[dict[VolunteerId, VolunteerName],
                          Field(max_length=MAX_BATCH_EVENTS)] = {}


class RejectedEvent(BaseModel):
    """An event of the batch that was not stored (altered, or its seq taken): the kiosk
    quarantines it."""

    index: int
    id: str | None
    seq: int | None
    reason: str


class PushResponse(BaseModel):
    """What became of a batch: ``missing`` lists [first, last] ranges of this device's
    sequence numbers the central store has not got."""

    stored: int
    duplicates: int
    rejected: list[RejectedEvent]
    missing: list[list[int]]
    last_seq: int
    #: relayed by a hub for a gate whose key the district has not got yet (kiosk.server.hub)
    held: int = 0


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` to ``defs`` replaced by its definition (the event's
    types do not nest themselves)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def push_request_schema() -> dict[str, Any]:
    """The OpenAPI request body of ``POST /api/v1/events`` (the route parses the bytes
    itself, in one strict pass, so FastAPI is told the schema instead of parsing it)."""
    schema = PushRequest.model_json_schema(mode="validation")
    body = _inline(schema, schema.get("$defs", {}))
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": body}}}}


class Refused(ValueError):
    """A request refused as a whole (HTTP 422): nothing of it is stored."""


def parse_push(body: bytes) -> PushRequest:
    """The request body, validated against the gate event's type; raises Refused with the
    first problem."""
    try:
        push = PushRequest.model_validate_json(body)
    except ValidationError as exc:
        raise Refused(_first_problem(exc)) from None
    for i, e in enumerate(push.events):
        if any(r.event_id != e.id for r in e.readings):
            raise Refused(f"events.{i}.readings.event_id: a reading of another event")
    return push


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    event_id: str | None
    seq: int | None
    reason: str
    #: the finding it becomes
    kind: str = "rejected"

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.event_id, "seq": self.seq,
                "reason": self.reason}


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    #: [first, last] ranges of this device's sequence numbers the server has not got
    missing: list[list[int]] = field(default_factory=list)
    last_seq: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"stored": self.stored, "duplicates": self.duplicates,
                "rejected": [r.as_json() for r in self.rejected], "missing": self.missing,
                "last_seq": self.last_seq}


@dataclass(frozen=True, slots=True)
class Checked:
    """An event whose hashes match its content: its JSON form (``readings`` included, what
    the central store keeps) and that form written out (the stored ``record``: written
    here, before the batch takes the device's lock, so a kiosk's next batch is not
    waiting for it), its readings, and its typed key fields."""

    values: EventJson
    readings: list[ReadingJson]
    local_date: date
    wall_utc: datetime
    record: str


class Invalid(ValueError):
    pass


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where or 'body'}: {first['msg']}"


def typed_event(raw: Any) -> GateEvent:
    """One event in its JSON form (a dict as the wire gives it), validated against the
    type; raises Invalid. The batch path validates the whole body at once instead."""
    try:
        return EVENT_VALIDATOR.validate_json(wire.dumps(raw))
    except ValidationError as exc:
        raise Invalid(_first_problem(exc)) from None
    except TypeError as exc:
        raise Invalid(str(exc)) from None


def check_event(event: GateEvent | EventJson, device_id: str) -> Checked:
    """Re-compute the hashes of one event (typed, or its JSON form, which is validated
    first); raises Invalid with a reason a person can read."""
    if not isinstance(event, GateEvent):
        event = typed_event(event)
    if event.device_id != device_id:
        raise Invalid("event of another device")
    if any(r.event_id != event.id for r in event.readings):
        raise Invalid("a reading belongs to another event")
    raw = event.to_json()
    readings = raw["readings"]
    anonymised = is_anonymised(raw)
    if not _digests_match(raw, readings, anonymised):
        # the reference computation (kiosk.core.event, what the kiosk hashed with) has
        # the last word, and says which digest is wrong
        if not anonymised and personal_digest(raw) != raw["personal_digest"]:
            raise Invalid("altered: personal fields do not match their digest")
        if event_hash(raw, readings) != raw["hash"]:
            raise Invalid("altered: content does not match its hash")
    return Checked(raw, readings, event.local_date, event.wall_utc, wire.dumps(raw).decode())


#: what the quick check takes out of an event's JSON form before hashing: what event_hash
#: leaves out, and the readings (put back as the separate list, as event_hash does)
_NOT_IN_EVENT_HASH = (*NOT_HASHED, "readings")


def _digests_match(raw: EventJson, readings: list[ReadingJson], anonymised: bool) -> bool:
    """Both digests of an event re-computed over orjson's sorted compact form: True when
    they equal the event's own (``personal_digest`` unless anonymised, and ``hash``).

    A quick accept, never a verdict: False sends the event to the reference computation.
    It is sound because a SHA-256 match means orjson wrote exactly the bytes the kiosk
    hashed (``kiosk.core.event.canonical``); both are JSON that parses back to the values
    they were made from, so the event is the event the kiosk hashed, and the reference
    computation would accept it too. Where the two writers differ (floats printed with an
    exponent, ``1e-05`` against ``1e-5``) the digests differ, and the reference decides.
    About five times faster than the reference over the standard library's encoder."""
    if orjson is None:
        return False
    try:
        if not anonymised:
            personal = orjson.dumps(personal_body(raw), option=orjson.OPT_SORT_KEYS)
            if hashlib.sha256(personal).hexdigest() != raw["personal_digest"]:
                return False
        body = raw.copy()  # and take out what the hash does not cover: faster than a filter
        for k in _NOT_IN_EVENT_HASH:
            body.pop(k, None)
        body["readings"] = readings
        content = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return False
    return bool(hashlib.sha256(content).hexdigest() == raw["hash"])


def _check_signatures(checked: dict[str, tuple[int, Checked]], keys: DeviceKeys,
                      result: IngestResult) -> None:
    """Take out of ``checked`` every event that must be signed by its device's key and is
    not (rejected alone, finding ``bad_signature``). Events from before the device's key
    are left to the hash chain, as before keys existed.

    One verification per run of consecutive events, not one per event: walking down from
    the highest seq, an event whose successor in this batch is proven the device's (its
    signature verified, or itself proven this way) and names this event's hash as its
    ``prev_hash`` is proven by that: the successor's signed hash covers ``prev_hash``, so
    nobody could have changed this event without breaking a SHA-256 the device signed. Its
    own signature must still be there; its bytes are checked by ``kiosk serve verify``.
    An event without such a successor (the highest of a batch, one after a gap, one whose
    successor is already stored) is verified itself. Verification is the largest cost of
    ingest per event (docs/BENCHMARKS.md, "Signed events")."""
    if not keys.from_seqs:
        return
    proven: dict[int, set[str]] = {}  # seq -> hashes a proven successor vouches for
    for event_id, (i, c) in sorted(checked.items(), key=lambda item: -item[1][1].values["seq"]):
        v = c.values
        seq = v["seq"]
        key = keys.key_for(seq)
        if key is None:
            continue
        vouched = v["hash"] in proven.get(seq, ()) and keys.key_for(seq + 1) == key
        why = (keys.problem(seq, v["hash"], v.get("signature")) if not vouched
               else None if v.get("signature") else keys.problem(seq, v["hash"], None))
        if why is not None:
            del checked[event_id]
            result.rejected.append(Rejection(i, event_id, seq, why, BAD_SIGNATURE))
            continue
        proven.setdefault(seq - 1, set()).add(v["prev_hash"])


def _remember_volunteers(conn: Connection, device_id: str, names: dict[int, str]) -> None:
    """Which name a kiosk's volunteer id stands for (sent with the events that carry it)."""
    conn.execute(DEVICE_VOLUNTEERS.delete().where(
        DEVICE_VOLUNTEERS.c.device_id == device_id,
        DEVICE_VOLUNTEERS.c.volunteer_id.in_(list(names))))
    conn.execute(insert(DEVICE_VOLUNTEERS), [
        {"device_id": device_id, "volunteer_id": vid, "name": name}
        for vid, name in names.items()])


def _update_gaps(gaps: list[list[int]], last_seq: int, seqs: Sequence[int]) -> int:
    """Fold newly stored ``seqs`` (ascending) into the gap list; returns the new last_seq."""
    for s in seqs:
        if s > last_seq:
            if s > last_seq + 1:
                gaps.append([last_seq + 1, s - 1])
            last_seq = s
            continue
        for i, (a, b) in enumerate(gaps):
            if a <= s <= b:
                parts = [[a, s - 1]] if s > a else []
                parts += [[s + 1, b]] if s < b else []
                gaps[i:i + 1] = parts
                break
    return last_seq


def _event_row(c: Checked, device: Any, received_utc: datetime, change_id: int
               ) -> dict[str, Any]:
    """The stored row; ``checkpoint`` and ``compound`` are the enrolled device's (the kiosk's
    own checkpoint setting stays in ``record``); ``received_utc``: now, naive UTC."""
    v = c.values
    return {
        "local_date": c.local_date, "id": v["id"], "device_id": v["device_id"], "seq": v["seq"],
        "wall_utc": c.wall_utc, "checkpoint": device.checkpoint, "compound": device.compound,
        "direction": v["direction"], "pass_number": v["pass_number"],
        "household": v["household"], "outcome": v["outcome"], "reason": v["reason"],
        "counts_against_quota": v["counts_against_quota"], "escalated": v["escalated"],
        "prev_hash": v["prev_hash"], "hash": v["hash"],
        "record": c.record,
        "received_at": received_utc, "change_id": change_id,
        "corrects_event_id": v["corrects_event_id"],
    }


_EVENT_COLS = [c.name for c in EV.columns]
#: a stored row's values in COPY's column order (one C call a row)
_copy_values = operator.itemgetter(*_EVENT_COLS)
#: the columns' PostgreSQL types (``varchar``, ``bigint``, ...), for the binary COPY
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]
_COPY_TYPES = [re.sub(r"\(.*\)", "", c.type.compile(dialect=_PG)).lower() for c in EV.columns]


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (the bulk path: one round trip for the batch), in the binary
    format: psycopg writes a row five times faster than as text, and PostgreSQL reads it
    without parsing numbers and times; executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(EV), rows)
        return
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cur.copy(f"COPY events ({','.join(_EVENT_COLS)}) FROM STDIN (FORMAT BINARY)"
                  ) as copy:
        copy.set_types(_COPY_TYPES)
        for r in rows:
            copy.write_row(_copy_values(r))


def next_change_ids(conn: Connection, scope: str, n: int) -> int:
    """Reserve ``n`` change ids in ``scope``; returns the first. Holds the counter's row lock
    until commit, which is what orders the change stream."""
    conn.execute(text(
        "INSERT INTO counters (scope, value) VALUES (:s, 0) ON CONFLICT (scope) DO NOTHING"
    ), {"s": scope})
    top = conn.execute(text(
        "UPDATE counters SET value = value + :n WHERE scope = :s RETURNING value"
    ), {"n": n, "s": scope}).scalar_one()
    return int(top) - n + 1


def compound_scope(compound: str) -> str:
    return f"compound:{compound}"


class Ingest:
    """The upload path of one server process (holds the partition cache)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.partitions = Partitions(engine)

    def ingest(self, device_id: str, events: Sequence[GateEvent | EventJson],
               volunteers: dict[int, str] | None = None,
               relay: Sequence[Any] | None = None, via_hub: str | None = None
               ) -> IngestResult:
        """Store a batch (typed events, as ``parse_push`` gives them, or their JSON form)
        and the names of the kiosk's volunteer ids it carries, in one transaction; raises
        Refused, storing nothing, when a sequence number jumps too far. On a compound hub,
        ``relay`` holds the events' JSON objects as the kiosk sent them (same order): the
        newly stored ones are queued for the district in the same transaction
        (kiosk.server.hub). ``via_hub``: the hub that relays the batch (None: the gate
        sent it itself), shown on the dashboard."""
        result = IngestResult()
        checked: dict[str, tuple[int, Checked]] = {}
        for i, e in enumerate(events):
            try:
                c = check_event(e, device_id)
            except Invalid as exc:
                eid, seq = ((e.id, e.seq) if isinstance(e, GateEvent) else
                            (e.get("id"), e.get("seq")) if isinstance(e, dict) else (None, None))
                result.rejected.append(Rejection(
                    i, eid if isinstance(eid, str) else None,
                    seq if isinstance(seq, int) and 0 < seq <= MAX_SEQ else None, str(exc)))
                continue
            if c.values["id"] in checked:
                result.duplicates += 1
                continue
            checked[c.values["id"]] = (i, c)
        # how far the batch reaches counts every event that passed its hash check, forged
        # or not: a batch reaching too far is refused whole either way
        reach = max((c.values["seq"] for _, c in checked.values()), default=0)
        with self.engine.connect() as conn:
            keys = load_keys(conn, device_id)
        _check_signatures(checked, keys, result)
        self.partitions.ensure({c.local_date for _, c in checked.values()})
        now = utc_now()  # last contact, findings: naive UTC
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                conn.begin():
            if volunteers:  # first: an acknowledgement's case step names its volunteer
                _remember_volunteers(conn, device_id, volunteers)
            new = self._store(conn, device_id, checked, result, now, keys, reach, via_hub)
            if relay is not None:
                from kiosk.server.hub import queue_relay

                index = {c.values["id"]: i for i, c in checked.values()}
                queue_relay(conn, device_id, [
                    (c.values["seq"], c.values["id"], relay[index[c.values["id"]]])
                    for c in new], now)
        return result

    def _store(self, conn: Connection, device_id: str, checked: dict[str, tuple[int, Checked]],
               result: IngestResult, now: datetime, keys: DeviceKeys, reach: int,
               via_hub: str | None = None) -> list[Checked]:
        """Store the checked events that are new; returns them."""
        lock = select(DEV).where(DEV.c.id == device_id)
        if is_postgres(self.engine):
            lock = lock.with_for_update()
        device = conn.execute(lock).one()
        now_keys = load_keys(conn, device_id)
        if now_keys != keys:  # a key registered since the signatures were checked
            _check_signatures(checked, now_keys, result)
        if reach > device.last_seq + MAX_SEQ_JUMP:
            raise Refused(f"seq {reach} jumps more than {MAX_SEQ_JUMP} past the last stored "
                          f"seq {device.last_seq}")
        findings: list[dict[str, Any]] = []

        def finding(kind: str, seq: int | None, event_id: str | None, detail: str) -> None:
            findings.append(dict(at=now, kind=kind, device_id=device_id,
                                 checkpoint=device.checkpoint, compound=device.compound,
                                 seq=seq, event_id=event_id, detail=detail))

        for rej in result.rejected:
            finding(rej.kind, rej.seq, rej.event_id, rej.reason)
        by_seq = {c.values["seq"]: c for _, c in checked.values()}
        stored: dict[int, tuple[str, str, str]] = {}
        if by_seq:
            lo, hi = min(by_seq) - 1, max(by_seq) + 1
            stored = {r.seq: (r.id, r.hash, r.prev_hash) for r in conn.execute(
                select(EV.c.seq, EV.c.id, EV.c.hash, EV.c.prev_hash)
                .where(EV.c.device_id == device_id, EV.c.seq.between(lo, hi)))}
        new: list[Checked] = []
        for i, c in sorted(checked.values(), key=lambda ic: ic[1].values["seq"]):
            v = c.values
            have = stored.get(v["seq"])
            if have is None:
                new.append(c)
            elif have[0] == v["id"] and have[1] == v["hash"]:
                result.duplicates += 1
            else:
                why = ("differs from the copy already stored" if have[0] == v["id"]
                       else f"seq {v['seq']} already holds event {have[0]}")
                result.rejected.append(Rejection(i, v["id"], v["seq"], why))
                finding("altered" if have[0] == v["id"] else "seq_conflict", v["seq"],
                        v["id"], why)
        hashes = {s: h[1] for s, h in stored.items()}
        hashes.update({c.values["seq"]: c.values["hash"] for c in new})
        for c in new:
            seq = c.values["seq"]
            before = hashes.get(seq - 1, "" if seq == 1 else None)
            if before is not None and c.values["prev_hash"] != before:
                finding("chain_break", seq, c.values["id"],
                        f"seq {seq} does not follow the stored seq {seq - 1}: a record was "
                        "altered or replaced at the kiosk")
            after = stored.get(seq + 1)
            if after is not None and after[2] != c.values["hash"]:
                finding("chain_break", seq + 1, after[0],
                        f"stored seq {seq + 1} does not follow seq {seq}")
        rows: list[dict[str, Any]] = []
        if new:
            first = next_change_ids(conn, compound_scope(device.compound), len(new))
            # naive UTC like wall_utc, which it bounds ("who is out", /changes), whatever the
            # server's own zone
            received = utc_now()
            rows = [_event_row(c, device, received, first + k) for k, c in enumerate(new)]
            _insert_events(conn, rows)
            tallies.record(conn, rows)
            findings += self._quota_conflicts(conn, device, rows, now)
            withdraw_undone(conn, device.compound, rows, now)
            record_acknowledgements(conn, device, [c.values for c in new])
        gaps: list[list[int]] = json.loads(device.gaps)
        last_seq = _update_gaps(gaps, device.last_seq, [c.values["seq"] for c in new])
        conn.execute(DEV.update().where(DEV.c.id == device_id).values(
            last_contact=now, last_seq=last_seq, gaps=json.dumps(gaps), via_hub=via_hub))
        if findings:
            conn.execute(insert(FI), findings)
        result.stored = len(new)
        result.missing = gaps
        result.last_seq = last_seq
        return new

    def _quota_conflicts(self, conn: Connection, device: Any, rows: list[dict[str, Any]],
                         now: datetime) -> list[dict[str, Any]]:
        """Exits that, together with exits recorded at other gates (on a hub: also those the
        district passed down), spend more outings than the policy allows: only visible once
        both are known here; flagged, never dropped. An exit undone at its gate spent no
        outing (kiosk.server.conflicts.find)."""
        return find_conflicts(conn, device.compound, [
            {"id": r["id"], "household": r["household"], "local_date": r["local_date"],
             "seq": r["seq"], "device_id": device.id, "checkpoint": device.checkpoint}
            for r in rows if r["counts_against_quota"] and r["outcome"] == "allow"
            and r["household"]], now)
