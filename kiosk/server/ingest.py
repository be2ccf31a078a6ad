"""Taking in a batch of gate events: exactly once, in order, with the chain re-verified.

A batch is checked event by event: an event that is malformed or whose hash does not match
its content is rejected (the kiosk quarantines it; the command sees a finding) and never
blocks the others. The rest is written in one transaction that holds the posting device's
row lock (so a replayed batch racing its original cannot store an event twice, even though
the partitioned table cannot have a unique index on the event id alone) and the compound's
change counter (so download cursors never skip a late commit).
"""

from __future__ import annotations

import hashlib
import json
import operator
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    bindparam,
    insert,
    select,
    text,
)

from kiosk.server.db import Partitions, is_postgres
from kiosk.server.models import DeviceRow, EventRow, FindingRow, PolicyEntryRow
from kiosk.store.events import (
    NOT_HASHED,
    PERSONAL_FIELDS,
    event_hash,
    is_anonymised,
    personal_digest,
)
from kiosk.store.models import GateEventRow, ReadingRow, table_of
from kiosk.sync import wire

orjson = wire.orjson  # None on a machine without the wheel: the reference path only

DEV = table_of(DeviceRow)
EV = table_of(EventRow)
FI = table_of(FindingRow)
PO = table_of(PolicyEntryRow)

#: more than this in one request is refused as a whole (HTTP 413); the kiosk sends fewer
MAX_BATCH_EVENTS = 5000
#: a gate event has one or two readings; a handful more is tolerated, not a hundred
MAX_READINGS = 8
#: dates outside this range are not a kiosk's clock, however wrong: refused
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 1, 1)


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    event_id: str | None
    seq: int | None
    reason: str

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
    """An event that passed validation: its content (the event as posted, ``readings``
    included when the kiosk sent them), readings and decoded key fields."""

    values: dict[str, Any]
    readings: list[dict[str, Any]]
    local_date: date
    wall_utc: datetime


class Invalid(ValueError):
    pass


FieldSpec = tuple[str, frozenset[type], int | None, bool]


def _field_checks(table: Any) -> tuple[frozenset[str], list[FieldSpec]]:
    """(the column names, and per column: the JSON types accepted, max length, nullable),
    from the kiosk's own table, so the server accepts exactly what a kiosk can record."""
    specs: list[FieldSpec] = []
    for col in table.columns:
        length = None
        if isinstance(col.type, Boolean):
            kinds: set[type] = {bool}
        elif isinstance(col.type, Integer):
            kinds = {int}
        elif isinstance(col.type, Float):
            kinds = {int, float}
        elif isinstance(col.type, Date | DateTime):
            kinds, length = {str}, 32
        elif isinstance(col.type, String):
            kinds, length = {str}, col.type.length
        else:
            kinds, length = {str}, 10_000
        specs.append((col.name, frozenset(kinds), length, bool(col.nullable)))
    return frozenset(s[0] for s in specs), specs


EVENT_FIELDS = _field_checks(table_of(GateEventRow))
READING_FIELDS = _field_checks(table_of(ReadingRow))
_EVENT_KEYS = EVENT_FIELDS[0] | {"readings"}


def _check_fields(obj: Any, fields: tuple[frozenset[str], list[FieldSpec]], what: str,
                  allowed: frozenset[str]) -> None:
    """Exact keys, exact JSON types (``true`` is not an integer), lengths within the
    column's. On the ingest path: kept to one dict look-up and one type test a field."""
    if not isinstance(obj, dict):
        raise Invalid(f"{what} is not an object")
    if obj.keys() != allowed:
        unknown, missing = obj.keys() - allowed, allowed - obj.keys() - {"readings"}
        if unknown or missing:
            detail = (f"unknown fields: {', '.join(sorted(unknown)[:5])}" if unknown
                      else f"lacks {', '.join(sorted(missing)[:5])}")
            raise Invalid(f"{what} {detail}")
    for name, kinds, length, nullable in fields[1]:
        v = obj[name]
        if v is None:
            if not nullable:
                raise Invalid(f"{what}.{name} may not be null")
        elif type(v) not in kinds:
            raise Invalid(f"{what}.{name} has the wrong type")
        elif length is not None and len(v) > length:
            raise Invalid(f"{what}.{name} is longer than {length}")


def check_event(raw: Any, device_id: str) -> Checked:
    """Validate one event as posted and re-compute its hashes; raises Invalid with a reason
    a person can read."""
    _check_fields(raw, EVENT_FIELDS, "event", _EVENT_KEYS)
    readings = raw.get("readings", [])
    if not isinstance(readings, list) or len(readings) > MAX_READINGS:
        raise Invalid(f"readings must be a list of at most {MAX_READINGS}")
    for r in readings:
        _check_fields(r, READING_FIELDS, "reading", READING_FIELDS[0])
        if r["event_id"] != raw["id"]:
            raise Invalid("a reading belongs to another event")
    try:
        uuid.UUID(raw["id"])
        day = date.fromisoformat(raw["local_date"])
        wall = datetime.fromisoformat(raw["wall_utc"])
    except ValueError as exc:
        raise Invalid(f"bad id or date: {exc}") from None
    if not EARLIEST <= day < LATEST:
        raise Invalid(f"local_date {day} is out of range")
    if raw["device_id"] != device_id:
        raise Invalid("event of another device")
    if raw["seq"] < 1:
        raise Invalid("seq must be >= 1")
    anonymised = is_anonymised(raw)
    if not _digests_match(raw, readings, anonymised):
        # the reference computation (kiosk.store.events, what the kiosk hashed with) has
        # the last word, and says which digest is wrong; the posted dict itself is hashed
        # (no copy): the digests read only their own fields, and event_hash puts
        # ``readings`` in its body whether or not the dict has the key
        if not anonymised and personal_digest(raw) != raw["personal_digest"]:
            raise Invalid("altered: personal fields do not match their digest")
        if event_hash(raw, readings) != raw["hash"]:
            raise Invalid("altered: content does not match its hash")
    return Checked(raw, readings, day, wall)


#: what the quick check takes out of a posted event before hashing: what event_hash leaves
#: out, and the readings (put back as the separate list, as event_hash does)
_NOT_IN_EVENT_HASH = (*NOT_HASHED, "readings")


def _digests_match(raw: dict[str, Any], readings: list[Any], anonymised: bool) -> bool:
    """Both digests of a posted event re-computed over orjson's sorted compact form: True
    when they equal the event's own (``personal_digest`` unless anonymised, and ``hash``).

    A quick accept, never a verdict: False sends the event to the reference computation.
    It is sound because a SHA-256 match means orjson wrote exactly the bytes the kiosk
    hashed (``kiosk.store.events._canonical``); both are JSON that parses back to the
    values they were made from, so the event posted is the event the kiosk hashed, and the
    reference computation would accept it too. Where the two writers differ (floats printed
    with an exponent, ``1e-05`` against ``1e-5``) or orjson refuses a value (an integer
    beyond 64 bits), the digests differ or orjson raises, and the reference decides. About
    five times faster than the reference over the standard library's encoder."""
    if orjson is None:
        return False
    try:
        if not anonymised:
            personal = orjson.dumps({k: raw.get(k) for k in PERSONAL_FIELDS},
                                    option=orjson.OPT_SORT_KEYS)
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


def _policy_quota(conn: Connection) -> tuple[int, int]:
    rows = {k: v for k, v in conn.execute(select(PO.c.key, PO.c.value))}
    return int(rows.get("quota.outings", 1)), int(rows.get("quota.days", 2))


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


def _event_row(c: Checked, device: Any, now: datetime, change_id: int) -> dict[str, Any]:
    """The stored row; ``checkpoint`` and ``compound`` are the enrolled device's (the kiosk's
    own checkpoint setting stays in ``record``)."""
    v = c.values
    record = v if "readings" in v else {**v, "readings": c.readings}
    return {
        "local_date": c.local_date, "id": v["id"], "device_id": v["device_id"], "seq": v["seq"],
        "wall_utc": c.wall_utc, "checkpoint": device.checkpoint, "compound": device.compound,
        "direction": v["direction"], "pass_number": v["pass_number"],
        "household": v["household"], "outcome": v["outcome"], "reason": v["reason"],
        "counts_against_quota": v["counts_against_quota"], "escalated": v["escalated"],
        "prev_hash": v["prev_hash"], "hash": v["hash"],
        "record": wire.dumps(record).decode(),
        "received_at": now, "change_id": change_id,
    }


_EVENT_COLS = [c.name for c in EV.columns]
#: a stored row's values in COPY's column order (one C call a row)
_copy_values = operator.itemgetter(*_EVENT_COLS)


def _insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL (the bulk path: one round trip for the batch, rows formatted by
    psycopg's C code), executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(EV), rows)
        return
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cur.copy(f"COPY events ({','.join(_EVENT_COLS)}) FROM STDIN") as copy:
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

    def ingest(self, device_id: str, events: Sequence[Any]) -> IngestResult:
        result = IngestResult()
        checked: dict[str, tuple[int, Checked]] = {}
        for i, raw in enumerate(events):
            try:
                c = check_event(raw, device_id)
            except Invalid as exc:
                eid = raw.get("id") if isinstance(raw, dict) else None
                seq = raw.get("seq") if isinstance(raw, dict) else None
                result.rejected.append(Rejection(
                    i, eid if isinstance(eid, str) else None,
                    seq if isinstance(seq, int) else None, str(exc)))
                continue
            if c.values["id"] in checked:
                result.duplicates += 1
                continue
            checked[c.values["id"]] = (i, c)
        self.partitions.ensure({c.local_date for _, c in checked.values()})
        now = datetime.now()
        with self.engine.connect().execution_options(sqlite_immediate=True) as conn, \
                conn.begin():
            self._store(conn, device_id, checked, result, now)
        return result

    def _store(self, conn: Connection, device_id: str, checked: dict[str, tuple[int, Checked]],
               result: IngestResult, now: datetime) -> None:
        lock = select(DEV).where(DEV.c.id == device_id)
        if is_postgres(self.engine):
            lock = lock.with_for_update()
        device = conn.execute(lock).one()
        findings: list[dict[str, Any]] = []

        def finding(kind: str, seq: int | None, event_id: str | None, detail: str) -> None:
            findings.append(dict(at=now, kind=kind, device_id=device_id,
                                 checkpoint=device.checkpoint, compound=device.compound,
                                 seq=seq, event_id=event_id, detail=detail))

        for rej in result.rejected:
            finding("rejected", rej.seq, rej.event_id, rej.reason)
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
            rows = [_event_row(c, device, now, first + k) for k, c in enumerate(new)]
            _insert_events(conn, rows)
            findings += self._quota_conflicts(conn, device, rows, now)
        gaps: list[list[int]] = json.loads(device.gaps)
        last_seq = _update_gaps(gaps, device.last_seq, [c.values["seq"] for c in new])
        conn.execute(DEV.update().where(DEV.c.id == device_id).values(
            last_contact=now, last_seq=last_seq, gaps=json.dumps(gaps)))
        if findings:
            conn.execute(insert(FI), findings)
        result.stored = len(new)
        result.missing = gaps
        result.last_seq = last_seq

    def _quota_conflicts(self, conn: Connection, device: Any, rows: list[dict[str, Any]],
                         now: datetime) -> list[dict[str, Any]]:
        """Exits that, together with exits recorded at other gates, spend more outings than
        the policy allows: only visible once both gates have synced; flagged, never
        dropped."""
        exits = [r for r in rows if r["counts_against_quota"] and r["outcome"] == "allow"
                 and r["household"]]
        if not exits:
            return []
        outings, days = _policy_quota(conn)
        if outings <= 0:
            return []
        span = timedelta(days=days - 1)
        lo = min(r["local_date"] for r in exits) - span
        hi = max(r["local_date"] for r in exits) + span
        households = sorted({r["household"] for r in exits})
        known: dict[str, list[tuple[date, str, str, str]]] = {}
        for row in conn.execute(
            select(EV.c.household, EV.c.local_date, EV.c.id, EV.c.checkpoint, EV.c.device_id)
            .where(EV.c.compound == device.compound,
                   EV.c.household.in_(bindparam("hh", expanding=True)),
                   EV.c.local_date.between(lo, hi), EV.c.counts_against_quota.is_(True),
                   EV.c.outcome == "allow"),
            {"hh": households},
        ):
            known.setdefault(row.household, []).append(
                (row.local_date, row.id, row.checkpoint, row.device_id))
        out: list[dict[str, Any]] = []
        for r in exits:
            d = r["local_date"]
            for k in range(days):
                end = d + timedelta(days=k)
                inside = [e for e in known.get(r["household"], []) if end - span <= e[0] <= end]
                if len(inside) > outings and len({e[3] for e in inside}) > 1:
                    gates = ", ".join(sorted(f"{e[2]} ({e[0]})" for e in inside))
                    out.append(dict(
                        at=now, kind="quota_conflict", device_id=device.id,
                        checkpoint=device.checkpoint, compound=device.compound, seq=r["seq"],
                        event_id=r["id"],
                        detail=f"household {r['household']}: {len(inside)} outings within "
                               f"{days} days, quota {outings}, at {gates}"))
                    break
        return out
