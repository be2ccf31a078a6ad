"""Re-verifying what the central store holds: every stored event against its own hash, its
predecessor, and the copies of its fields the dashboard and exports read.

Ingest checks each event as it arrives; this checks the store afterwards, so an event edited
or deleted *in the central database* (by hand, by a faulty tool, by someone covering a
mistake) is found: the kiosk's hash chain is kept in every stored record and still proves
what the gate recorded. Each event from its device's key on must also carry the device's
signature of its hash (kiosk.server.devicekeys); events from before are counted as
"unsigned (before keys)", checked by the chain alone, and never reported as altered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from kiosk.core.event import event_hash, is_anonymised, personal_digest
from kiosk.server import audit
from kiosk.server.clock import utc_now
from kiosk.server.devicekeys import DeviceKeys, load_keys
from kiosk.server.ingest import DEV, EV, FI

#: typed columns that must equal the record's value (the dashboard and the district export
#: read these, so an edit here would change what the command sees)
_COPIED = ("id", "device_id", "seq", "direction", "pass_number", "household", "outcome",
           "reason", "counts_against_quota", "escalated", "prev_hash", "hash",
           "corrects_event_id")
#: finding kinds written by a verification (ingest writes its own kinds)
STORED_ALTERED, STORED_MISSING = "stored_altered", "stored_missing"


@dataclass
class DeviceCheck:
    device_id: str
    checkpoint: str
    events: int = 0
    #: events from before the device had a key: verified by the hash chain alone
    unsigned: int = 0
    #: (kind, seq, event id or None, what is wrong)
    problems: list[tuple[str, int, str | None, str]] = field(default_factory=list)


def _problems_of(row: Any, keys: DeviceKeys) -> Iterator[str]:
    """What is wrong with one stored row (nothing: it is what the kiosk recorded)."""
    try:
        record = json.loads(row.record)
        readings = record.pop("readings")
    except (ValueError, KeyError, TypeError, AttributeError):
        yield "record is not the kiosk's JSON"
        return
    for name in _COPIED:
        if getattr(row, name) != record.get(name):
            yield f"column {name} differs from the kiosk's record"
    try:
        same_day = date.fromisoformat(record["local_date"]) == row.local_date
        same_time = datetime.fromisoformat(record["wall_utc"]) == row.wall_utc
    except (KeyError, TypeError, ValueError):
        same_day = same_time = False
    if not (same_day and same_time):
        yield "date or time differs from the kiosk's record"
    if not is_anonymised(record) and personal_digest(record) != record.get("personal_digest"):
        yield "personal fields altered"
    elif event_hash(record, readings) != record.get("hash"):
        yield "record altered (its hash no longer matches)"
    problem = keys.problem(row.seq, str(record.get("hash")), record.get("signature"))
    if problem is not None:
        yield problem.replace("forged: ", "not the device's: ")


def verify_device(engine: Engine, device_id: str) -> DeviceCheck:
    with engine.connect() as conn:
        dev = conn.execute(select(DEV).where(DEV.c.id == device_id)).one()
        check = DeviceCheck(device_id, dev.checkpoint)
        keys = load_keys(conn, device_id)
        known_gaps = [tuple(g) for g in json.loads(dev.gaps)]
        prev_seq, prev_hash = 0, ""
        rows = conn.execution_options(yield_per=2000).execute(
            select(EV).where(EV.c.device_id == device_id).order_by(EV.c.seq))
        for row in rows:
            check.events += 1
            check.unsigned += keys.key_for(row.seq) is None
            for what in _problems_of(row, keys):
                check.problems.append((STORED_ALTERED, row.seq, row.id, what))
            if row.seq == prev_seq + 1 and row.prev_hash != prev_hash:
                check.problems.append((STORED_ALTERED, row.seq, row.id,
                                       f"does not follow the stored seq {prev_seq}"))
            if row.seq > prev_seq + 1:
                check.problems += _unexplained(prev_seq + 1, row.seq - 1, known_gaps)
            prev_seq, prev_hash = row.seq, row.hash
        if dev.last_seq > prev_seq:
            check.problems += _unexplained(prev_seq + 1, dev.last_seq, known_gaps)
    return check


def unexplained_ranges(first: int, last: int, known: list[tuple[int, ...]]
                       ) -> list[tuple[int, int]]:
    """The parts of [first, last] outside every known gap range, as ranges: computed on the
    ranges' ends, never on their members (a gap can be 2^62 numbers wide)."""
    out: list[tuple[int, int]] = []
    at = first
    for a, b in sorted((g[0], g[1]) for g in known if g[1] >= first and g[0] <= last):
        if a > at:
            out.append((at, a - 1))
        at = max(at, b + 1)
        if at > last:
            return out
    if at <= last:
        out.append((at, last))
    return out


def _unexplained(first: int, last: int, known: list[tuple[int, ...]]
                 ) -> list[tuple[str, int, str | None, str]]:
    """Missing seqs the kiosk never sent are known gaps; any other was stored and is gone."""
    return [(STORED_MISSING, a, None,
             f"seq {a}-{b}: stored once, no longer in the central store" if b > a
             else f"seq {a}: stored once, no longer in the central store")
            for a, b in unexplained_ranges(first, last, known)]


def verify_all(engine: Engine, actor: str | None = None) -> list[DeviceCheck]:
    """Verify every device's events; new problems become findings (shown on the dashboard),
    and the run is audited."""
    with engine.connect() as conn:
        devices = [r.id for r in conn.execute(select(DEV.c.id).order_by(DEV.c.checkpoint))]
    checks = [verify_device(engine, d) for d in devices]
    now = utc_now()  # findings' time: naive UTC
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        seen = {(r.kind, r.device_id, r.seq) for r in conn.execute(
            select(FI.c.kind, FI.c.device_id, FI.c.seq)
            .where(FI.c.kind.in_([STORED_ALTERED, STORED_MISSING])))}
        devs = {r.id: r for r in conn.execute(select(DEV))}
        new = [dict(at=now, kind=kind, device_id=c.device_id, checkpoint=c.checkpoint,
                    compound=devs[c.device_id].compound, seq=seq, event_id=eid, detail=what)
               for c in checks for kind, seq, eid, what in c.problems
               if (kind, c.device_id, seq) not in seen]
        if new:
            conn.execute(insert(FI), _first_per_seq(new))
        audit.record_in(conn, actor or audit.cli_actor(), audit.VERIFY, {
            "devices": len(checks), "events": sum(c.events for c in checks),
            "unsigned": sum(c.unsigned for c in checks),
            "problems": sum(len(c.problems) for c in checks)})
    return checks


def _first_per_seq(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per (kind, device, seq), the first reason found."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        out.setdefault((r["kind"], r["device_id"], r["seq"]), r)
    return list(out.values())
