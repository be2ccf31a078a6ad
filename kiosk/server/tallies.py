"""Counts the dashboard reads, kept as events arrive (issue 15 point 8: pages answer in
under 300 ms with ten million events, so they must not count events).

Three tables, written by ingest in the batch's transaction (``record``):

* ``gate_days``: per day, compound, gate and recorded reason, the allowed movements in and
  out, the denials and the confirmed fevers (escalated events, whatever the reason);
* ``gate_hours``: per day, gate and UTC hour, the allowed movements in and out;
* ``last_movements``: per compound and pass, its newest allowed movement ("who is out");
* ``out_counts``: per compound and day of that movement, the passes whose last movement
  was out (the overview counts who is out from a few hundred rows).

A correction event (outcome ``undo``, ``corrects_event_id``) says a movement did not
happen: the movement is taken off (``undone_events`` remembers it, so a movement that
arrives after its correction is never counted). ``rebuild`` recounts all of it from the
events (the definition; migration 0006 and ``kiosk serve tallies rebuild`` use it), and the
tests prove the kept tables equal it.

Rows are upserted in key order, so two batches touching the same rows never deadlock.
``record`` runs under the compound's change counter lock (ingest takes it first), so the
last movements of a compound's passes are read and replaced by one batch at a time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy.sql import ColumnElement

from kiosk.server.clock import command_today
from kiosk.server.db import insert_rows, one_of, upsert
from kiosk.server.models import (
    EventRow,
    GateDayRow,
    GateHourRow,
    HubUndoneRow,
    LastMovementRow,
    OutCountRow,
    UndoneEventRow,
)
from kiosk.store.models import table_of

EV = table_of(EventRow)
DAYS = table_of(GateDayRow)
HOURS = table_of(GateHourRow)
LAST = table_of(LastMovementRow)
UNDONE = table_of(UndoneEventRow)
HU = table_of(HubUndoneRow)
OUT = table_of(OutCountRow)
#: every table this module keeps
KEPT = (DAYS, HOURS, LAST, OUT, UNDONE)

#: the outcome of a correction event
UNDO = "undo"
MOVES = ("in", "out")

DayKey = tuple[date, str, str, str]  # local_date, compound, checkpoint, reason
HourKey = tuple[date, str, str, int]  # local_date, compound, checkpoint, UTC hour


def trusted_time(wall_utc: datetime, received_at: datetime) -> datetime:
    """When it happened as far as can be trusted: never after it reached the store (a kiosk
    clock 45 days fast must not keep a person "out since" next month)."""
    return min(wall_utc, received_at)


def _trusted_sql() -> ColumnElement[Any]:
    return case((EV.c.received_at < EV.c.wall_utc, EV.c.received_at), else_=EV.c.wall_utc)


def _add(conn: Connection, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
         ) -> None:
    """Add each row's counts to the stored ones (a new row when there is none)."""
    if not rows:
        return
    rows.sort(key=lambda r: tuple(r[k] for k in keys))
    stmt = upsert(conn, table)
    counts = [c for c in rows[0] if c not in keys]
    insert_rows(conn, stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + stmt.excluded[c] for c in counts}), rows)


def _count_rows(rows: Iterable[Any], sign: int) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """gate_days and gate_hours increments of ``rows`` (mappings of stored events)."""
    days: dict[DayKey, list[int]] = {}  # moves_in, moves_out, denials, fevers
    hours: dict[HourKey, list[int]] = {}  # moves_in, moves_out
    for r in rows:
        dk = (r["local_date"], r["compound"], r["checkpoint"], r["reason"])
        d = days.get(dk)
        if d is None:
            d = days[dk] = [0, 0, 0, 0]
        if r["outcome"] == "allow" and r["direction"] in MOVES:
            i = r["direction"] == "out"
            d[i] += sign
            hk = (r["local_date"], r["compound"], r["checkpoint"], r["wall_utc"].hour)
            h = hours.get(hk)
            if h is None:
                h = hours[hk] = [0, 0]
            h[i] += sign
        elif r["outcome"] == "deny":
            d[2] += sign
        if r["escalated"]:
            d[3] += sign
    day_rows = [dict(local_date=k[0], compound=k[1], checkpoint=k[2], reason=k[3],
                     moves_in=c[0], moves_out=c[1], denials=c[2], fevers=c[3])
                for k, c in days.items() if any(c)]
    hour_rows = [dict(local_date=k[0], compound=k[1], checkpoint=k[2], hour=k[3],
                      moves_in=c[0], moves_out=c[1]) for k, c in hours.items()]
    return day_rows, hour_rows


def _corrects(row: Any) -> str | None:
    """The event a correction event undoes (its record's ``corrects_event_id``)."""
    if row["outcome"] != UNDO:
        return None
    value = json.loads(row["record"]).get("corrects_event_id")
    return value if isinstance(value, str) else None


def _is_movement(r: Any) -> bool:
    return bool(r["outcome"] == "allow" and r["pass_number"])


def _last_row(r: Any) -> dict[str, Any]:
    return dict(compound=r["compound"], pass_number=r["pass_number"],
                household=r["household"], checkpoint=r["checkpoint"],
                direction=r["direction"], at=trusted_time(r["wall_utc"], r["received_at"]),
                change_id=r["change_id"], local_date=r["local_date"], event_id=r["id"])


def _set_last(conn: Connection, rows: list[dict[str, Any]],
              drop: Iterable[tuple[str, str]] = ()) -> None:
    """Each pass's row becomes the newest of its stored one and ``rows``; the passes of
    ``drop`` lose theirs (an undone last movement) before. ``out_counts`` follows."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        k = (r["compound"], r["pass_number"])
        if k not in newest or (r["at"], r["change_id"]) > (newest[k]["at"],
                                                             newest[k]["change_id"]):
            newest[k] = r
    drop = set(drop)
    keys = sorted(set(newest) | drop)
    if not keys:
        return
    old: dict[tuple[str, str], Any] = {}
    for compound in sorted({k[0] for k in keys}):
        numbers = [k[1] for k in keys if k[0] == compound]
        old.update(((compound, r.pass_number), r) for r in conn.execute(
            select(LAST.c.pass_number, LAST.c.direction, LAST.c.at, LAST.c.change_id,
                   LAST.c.local_date)
            .where(LAST.c.compound == compound,
                   one_of(conn, LAST.c.pass_number, numbers, semi_join=True))).all())
    outs: Counter[tuple[str, date]] = Counter()
    for k in sorted(drop):
        o = old.pop(k, None)
        if o is not None:
            conn.execute(delete(LAST).where(LAST.c.compound == k[0],
                                            LAST.c.pass_number == k[1]))
            outs[(k[0], o.local_date)] -= o.direction == "out"
    write = []
    for k in sorted(newest):
        new, o = newest[k], old.get(k)
        if o is not None and (new["at"], new["change_id"]) <= (o.at, o.change_id):
            continue
        write.append(new)
        if o is not None:
            outs[(k[0], o.local_date)] -= o.direction == "out"
        outs[(k[0], new["local_date"])] += new["direction"] == "out"
    if write:
        stmt = upsert(conn, LAST)
        insert_rows(conn, stmt.on_conflict_do_update(
            index_elements=["compound", "pass_number"],
            set_={c: stmt.excluded[c] for c in ("household", "checkpoint", "direction", "at",
                                                "change_id", "local_date", "event_id")}),
            write)
    changed: list[dict[str, Any]] = [
        dict(compound=c, local_date=d, n=n) for (c, d), n in sorted(outs.items()) if n]
    _add(conn, OUT, ("compound", "local_date"), changed)
    if any(r["n"] < 0 for r in changed):
        _drop_empty(conn, OUT, changed, ("n",))


def _latest_movement(conn: Connection, compound: str, pass_number: str,
                     household: str | None) -> Any:
    """The pass's newest stored movement not undone (the household's index finds it)."""
    when = _trusted_sql()
    where = [EV.c.compound == compound, EV.c.pass_number == pass_number,
             EV.c.outcome == "allow",
             ~select(UNDONE.c.event_id).where(UNDONE.c.event_id == EV.c.id).exists()]
    if household:
        where.append(EV.c.household == household)
    return conn.execute(
        select(EV.c.id, EV.c.compound, EV.c.pass_number, EV.c.household, EV.c.checkpoint,
               EV.c.direction, EV.c.wall_utc, EV.c.received_at, EV.c.change_id,
               EV.c.local_date)
        .where(*where).order_by(when.desc(), EV.c.change_id.desc()).limit(1)).first()


def _mark_undone(conn: Connection, targets: dict[str, date]) -> dict[str, date]:
    """Remember the movements ``targets`` says did not happen (id: the day to file it
    under); returns those not known as undone before (each is taken off once)."""
    if not targets:
        return {}
    # the rowcount of INSERT .. ON CONFLICT DO NOTHING is not reliable across drivers
    # (psycopg reports none): look first; a device's corrections come under its lock
    known = set(conn.execute(select(UNDONE.c.event_id).where(
        one_of(conn, UNDONE.c.event_id, targets, semi_join=True))).scalars())
    fresh = {t: d for t, d in targets.items() if t not in known}
    if fresh:
        conn.execute(insert(UNDONE), [{"event_id": t, "local_date": d}
                                      for t, d in fresh.items()])
    return fresh


def record(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Count newly stored events (``rows``: the stored rows, as ingest wrote them), in the
    caller's transaction."""
    undoes = [(r, _corrects(r)) for r in rows if r["outcome"] == UNDO]
    newly_undone = _mark_undone(conn, {t: r["local_date"] for r, t in undoes
                                       if t is not None})
    moves = [r["id"] for r in rows if r["outcome"] == "allow"]
    undone = set(newly_undone)
    if moves:
        undone |= set(conn.execute(select(UNDONE.c.event_id).where(
            one_of(conn, UNDONE.c.event_id, moves, semi_join=True))).scalars())
    counted = [r for r in rows if r["id"] not in undone]
    day_rows, hour_rows = _count_rows(counted, +1)
    in_batch = {r["id"] for r in rows}
    earlier = [eid for eid in newly_undone if eid not in in_batch]
    taken: list[Any] = []
    if earlier:
        # a correction follows its movement within a minute, at the same kiosk: the day of
        # the correction or the one before
        days = sorted({newly_undone[e] for e in earlier})
        lo = date.fromordinal(days[0].toordinal() - 1)
        taken = [r._mapping for r in conn.execute(
            select(EV).where(EV.c.id.in_(earlier), EV.c.local_date.between(lo, days[-1])))]
    _keep(conn, day_rows, hour_rows, counted, taken)


def undo(conn: Connection, event_ids: Iterable[str], today: date) -> list[Any]:
    """On a compound hub: movements the district says were undone at their gate (the
    correction went to the district directly, the hub never stores it) are taken off as
    ``record`` takes off one whose correction arrives: remembered in ``undone_events`` (so
    one arriving later is never counted), their counts and "who is out" taken back.
    Returns the stored movements newly taken off."""
    ids = sorted(set(event_ids))
    if not ids:
        return []
    # by id alone: a few per relay round, on the hub's own (compound-sized) store
    stored = [r._mapping for r in conn.execute(select(EV).where(EV.c.id.in_(ids)))]
    days = {r["id"]: r["local_date"] for r in stored}
    fresh = _mark_undone(conn, {i: days.get(i, today) for i in ids})
    taken = [r for r in stored if r["id"] in fresh]
    _keep(conn, [], [], [], taken)
    return taken


def _keep(conn: Connection, day_rows: list[dict[str, Any]], hour_rows: list[dict[str, Any]],
          counted: list[Any], taken: list[Any]) -> None:
    """Write the counts of ``counted`` (new events) and take back those of ``taken``
    (stored movements newly undone), with each pass's last movement."""
    if taken:
        minus_days, minus_hours = _count_rows(taken, -1)
        day_rows += minus_days
        hour_rows += minus_hours
    _add(conn, DAYS, ("local_date", "compound", "checkpoint", "reason"),
         _merge(day_rows, ("local_date", "compound", "checkpoint", "reason")))
    _add(conn, HOURS, ("local_date", "compound", "checkpoint", "hour"),
         _merge(hour_rows, ("local_date", "compound", "checkpoint", "hour")))
    if taken:  # a count taken back to nothing is no row (as a recount has none)
        _drop_empty(conn, DAYS, day_rows, ("moves_in", "moves_out", "denials", "fevers"))
        _drop_empty(conn, HOURS, hour_rows, ("moves_in", "moves_out"))
    _set_last(conn, [_last_row(r) for r in counted if _is_movement(r)])
    # an undone movement that was its pass's last: the one before it is the last again
    undone_last = []
    for r in taken:
        if _is_movement(r) and conn.execute(select(LAST.c.event_id).where(
                LAST.c.compound == r["compound"],
                LAST.c.pass_number == r["pass_number"])).scalar() == r["id"]:
            undone_last.append(r)
    if undone_last:
        before = [_latest_movement(conn, r["compound"], r["pass_number"], r["household"])
                  for r in undone_last]
        _set_last(conn, [_last_row(b._mapping) for b in before if b is not None],
                  drop=[(r["compound"], r["pass_number"]) for r in undone_last])


def _drop_empty(conn: Connection, table: Table, rows: list[dict[str, Any]],
                counts: Sequence[str]) -> None:
    for r in rows:
        conn.execute(delete(table).where(
            *(table.c[k] == r[k] for k in r if k not in counts),
            *(table.c[c] == 0 for c in counts)))


def _merge(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per key (increments and decrements of one batch added up)."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[c] for c in keys)
        if k in out:
            for c, v in r.items():
                if c not in keys:
                    out[k][c] += v
        else:
            out[k] = dict(r)
    return list(out.values())


def forget_before(conn: Connection, day: date) -> None:
    """Retention: the pass numbers of movements before ``day`` are wiped from the events,
    so their "last movement" rows go too (the counts stay)."""
    conn.execute(delete(LAST).where(LAST.c.local_date < day))
    conn.execute(delete(OUT).where(OUT.c.local_date < day))


def rebuild(conn: Connection) -> None:
    """Recount every kept table from the events (the definition the kept tables equal)."""
    for table in KEPT:
        conn.execute(delete(table))
    undone: dict[str, date] = {}
    for r in conn.execute(select(EV.c.local_date, EV.c.outcome, EV.c.record)
                          .where(EV.c.outcome == UNDO).order_by(EV.c.change_id)):
        target = _corrects(r._mapping)
        if target is not None and target not in undone:
            undone[target] = r.local_date
    # on a compound hub: undos the district passed down (``undo``), filed under the day
    # of the movement they take off (migration 0011 recounts before the table exists)
    if inspect(conn).has_table(HU.name):
        for h in conn.execute(select(HU.c.event_id, EV.c.local_date)
                              .join_from(HU, EV, EV.c.id == HU.c.event_id, isouter=True)):
            undone.setdefault(h.event_id, h.local_date or command_today())
    if undone:
        conn.execute(insert(UNDONE), [{"event_id": k, "local_date": v}
                                      for k, v in undone.items()])
    live = ~select(UNDONE.c.event_id).where(UNDONE.c.event_id == EV.c.id).exists()
    allowed = and_(EV.c.outcome == "allow", live)

    def n(cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    keys = (EV.c.local_date, EV.c.compound, EV.c.checkpoint)
    conn.execute(insert(DAYS).from_select(
        ["local_date", "compound", "checkpoint", "reason", "moves_in", "moves_out",
         "denials", "fevers"],
        select(*keys, EV.c.reason, n(and_(allowed, EV.c.direction == "in")),
               n(and_(allowed, EV.c.direction == "out")), n(EV.c.outcome == "deny"),
               n(EV.c.escalated.is_(True)))
        .group_by(*keys, EV.c.reason)
        .having(n(and_(allowed, EV.c.direction.in_(MOVES))) + n(EV.c.outcome == "deny")
                + n(EV.c.escalated.is_(True)) > 0)))
    hour = func.cast(func.extract("hour", EV.c.wall_utc), HOURS.c.hour.type)
    conn.execute(insert(HOURS).from_select(
        ["local_date", "compound", "checkpoint", "hour", "moves_in", "moves_out"],
        select(*keys, hour, n(EV.c.direction == "in"), n(EV.c.direction == "out"))
        .where(allowed, EV.c.direction.in_(MOVES)).group_by(*keys, hour)))
    when = _trusted_sql()
    ranked = (
        select(EV.c.compound, EV.c.pass_number, EV.c.household, EV.c.checkpoint,
               EV.c.direction, when.label("at"), EV.c.change_id, EV.c.local_date,
               EV.c.id.label("event_id"),
               func.row_number().over(partition_by=(EV.c.compound, EV.c.pass_number),
                                      order_by=(when.desc(), EV.c.change_id.desc())
                                      ).label("rn"))
        .where(allowed, EV.c.pass_number.is_not(None)).subquery())
    cols = ["compound", "pass_number", "household", "checkpoint", "direction", "at",
            "change_id", "local_date", "event_id"]
    conn.execute(insert(LAST).from_select(
        cols, select(*(ranked.c[c] for c in cols)).where(ranked.c.rn == literal(1))))
    conn.execute(insert(OUT).from_select(
        ["compound", "local_date", "n"],
        select(LAST.c.compound, LAST.c.local_date, func.count()).where(
            LAST.c.direction == "out").group_by(LAST.c.compound, LAST.c.local_date)))

