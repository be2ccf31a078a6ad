"""Quota conflicts that stop standing: a ``quota_conflict`` finding (two gates that spent
more of one household's outings than the policy allows, kiosk.server.ingest) is withdrawn
when a correction event (an undo at a gate) takes one of its outings away and the rest no
longer exceed the quota. The finding row stays, with when and why it was withdrawn: the
dashboard and the nightly briefing show it as withdrawn, not as something to look at.

Run by ingest in the batch's transaction, after the batch's corrections are recorded in
``undone_events`` (kiosk.server.tallies), so an outing undone in this batch counts as undone.
On a compound hub, also when the district passes down an undo made at a gate that synced
with it directly (kiosk.server.hub): the hub never stores that correction, and withdraws the
same way.

The quota is a compound rule, so on a hub the exits that count are its own events **and**
the compound's movements the district passed down (``hub_movements``: outings at gates of
other hubs, or gates that synced with the district directly). An exit arriving either way is
checked against both (``find``: from ingest, and from the hub's pull), so two outings of one
household through two hubs' gates are flagged on the hub's dashboard, where the compound's
volunteers look, as on the district's; and withdrawn the same way when one is undone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select

from kiosk.server.db import one_of
from kiosk.server.models import EventRow, FindingRow, HubMovementRow, PolicyEntryRow
from kiosk.server.tallies import UNDONE
from kiosk.store.models import table_of

EV = table_of(EventRow)
FI = table_of(FindingRow)
PO = table_of(PolicyEntryRow)
HM = table_of(HubMovementRow)
#: the finding kind this module withdraws
QUOTA_CONFLICT = "quota_conflict"
#: an exit that spent an outing: its day first, its device last
Exit = TypeVar("Exit", bound=tuple[Any, ...])


def policy_quota(conn: Connection) -> tuple[int, int]:
    """The command's quota: outings per household within so many days."""
    rows = {k: v for k, v in conn.execute(select(PO.c.key, PO.c.value))}
    return int(rows.get("quota.outings", 1)), int(rows.get("quota.days", 2))


def conflict_window(exits: Sequence[Exit], day: date, outings: int, days: int
                    ) -> list[Exit] | None:
    """The household's exits (each ``(day, ..., device)``) in the first window of ``days``
    days holding ``day`` where more than ``outings`` outings were spent at more than one
    gate (one gate alone refuses the extra); None when there is no such window."""
    span = timedelta(days=days - 1)
    for k in range(days):
        end = day + timedelta(days=k)
        inside = [e for e in exits if end - span <= e[0] <= end]
        if len(inside) > outings and len({e[-1] for e in inside}) > 1:
            return inside
    return None


def spent_exits(conn: Connection, compound: str, households: list[str], lo: date, hi: date,
                besides: set[str] | frozenset[str] = frozenset()
                ) -> dict[str, list[tuple[date, str, str, str]]]:
    """Per household, the exits between ``lo`` and ``hi`` that spend an outing, as
    ``(day, event id, checkpoint, device)``: the events stored here that were not undone
    (``undone_events``) and, on a hub, the compound's movements the district passed down
    (``hub_movements``, which loses a movement the district says was undone), each once;
    ``besides``: ids to leave out (undone in this very transaction)."""
    known: dict[str, list[tuple[date, str, str, str]]] = defaultdict(list)
    seen: set[str] = set(besides)
    for row in conn.execute(
        select(EV.c.household, EV.c.local_date, EV.c.id, EV.c.checkpoint, EV.c.device_id)
        .where(EV.c.compound == compound, one_of(conn, EV.c.household, households),
               EV.c.local_date.between(lo, hi), EV.c.counts_against_quota.is_(True),
               EV.c.outcome == "allow", EV.c.id.not_in(select(UNDONE.c.event_id)))
    ):
        if row.id not in seen:
            seen.add(row.id)
            known[row.household].append((row.local_date, row.id, row.checkpoint,
                                         row.device_id))
    for row in conn.execute(
        select(HM.c.household, HM.c.local_date, HM.c.event_id, HM.c.checkpoint,
               HM.c.device_id)
        .where(HM.c.compound == compound, one_of(conn, HM.c.household, households),
               HM.c.local_date.between(lo, hi), HM.c.counts_against_quota.is_(True))
    ):
        if row.event_id not in seen:
            seen.add(row.event_id)
            known[row.household].append((row.local_date, row.event_id, row.checkpoint,
                                         row.device_id))
    return known


def find(conn: Connection, compound: str, exits: list[dict[str, Any]], now: datetime
         ) -> list[dict[str, Any]]:
    """``quota_conflict`` findings (rows for ``findings``) for the arriving ``exits`` (each
    a dict with ``id``, ``household``, ``local_date``, ``seq``, ``device_id``,
    ``checkpoint``, already stored or passed down) that, with the compound's other spent
    exits, spend more outings than the policy allows at more than one gate: only visible
    once both are known here; flagged, never dropped."""
    exits = [e for e in exits if e["household"]]
    if not exits:
        return []
    outings, days = policy_quota(conn)
    if outings <= 0:
        return []
    span = timedelta(days=days - 1)
    lo = min(e["local_date"] for e in exits) - span
    hi = max(e["local_date"] for e in exits) + span
    known = spent_exits(conn, compound, sorted({e["household"] for e in exits}), lo, hi)
    counted = {k[1] for days_ in known.values() for k in days_}
    out: list[dict[str, Any]] = []
    for e in exits:
        if e["id"] not in counted:  # undone at the gate (in this batch): spent nothing
            continue
        inside = conflict_window(known.get(e["household"], []), e["local_date"], outings,
                                 days)
        if inside is not None:
            gates = ", ".join(sorted(f"{k[2]} ({k[0]})" for k in inside))
            out.append(dict(
                at=now, kind=QUOTA_CONFLICT, device_id=e["device_id"],
                checkpoint=e["checkpoint"], compound=compound, seq=e["seq"],
                event_id=e["id"],
                detail=f"household {e['household']}: {len(inside)} outings within "
                       f"{days} days, quota {outings}, at {gates}"))
    return out


def withdraw_undone(conn: Connection, compound: str, rows: list[dict[str, Any]],
                    now: datetime) -> int:
    """Withdraw the compound's standing quota conflicts that the corrections among ``rows``
    (stored events of one batch) leave without a conflict; returns how many."""
    return withdraw(conn, compound, {r["corrects_event_id"]: f"by event {r['id']}"
                                     for r in rows if r["corrects_event_id"]}, now)


def withdraw(conn: Connection, compound: str, undone: dict[str, str], now: datetime) -> int:
    """Withdraw the compound's standing quota conflicts that the movements ``undone``
    (their ids, each with how it was undone, for the record) leave without a conflict, once
    they are in ``undone_events``; returns how many. One rule for an undo however it came:
    as a correction event, or on a hub as the district's word (kiosk.server.hub)."""
    if not undone:
        return 0
    outings, days = policy_quota(conn)
    taken = [*conn.execute(
        select(EV.c.id, EV.c.household, EV.c.local_date, EV.c.checkpoint)
        .where(EV.c.id.in_(bindparam("ids", expanding=True)), EV.c.compound == compound,
               EV.c.household.is_not(None), EV.c.counts_against_quota.is_(True),
               EV.c.outcome == "allow"), {"ids": sorted(undone)}),
        # on a hub: a movement the district passed down, undone at its gate
        *conn.execute(
        select(HM.c.event_id.label("id"), HM.c.household, HM.c.local_date, HM.c.checkpoint)
        .where(HM.c.event_id.in_(bindparam("ids", expanding=True)), HM.c.compound == compound,
               HM.c.household.is_not(None), HM.c.counts_against_quota.is_(True)),
        {"ids": sorted(undone)})]
    if not taken:
        return 0
    span = timedelta(days=max(days, 1) - 1)
    lo = min(t.local_date for t in taken) - span
    hi = max(t.local_date for t in taken) + span
    households = sorted({t.household for t in taken})
    standing = [*conn.execute(
        select(FI.c.id, EV.c.id.label("event_id"), EV.c.household, EV.c.local_date)
        .join(EV, EV.c.id == FI.c.event_id)
        .where(FI.c.kind == QUOTA_CONFLICT, FI.c.compound == compound,
               FI.c.withdrawn_at.is_(None), EV.c.compound == compound,
               EV.c.household.in_(bindparam("hh", expanding=True)),
               EV.c.local_date.between(lo, hi)), {"hh": households}).all(),
        # on a hub: findings on a movement the district passed down
        *conn.execute(
        select(FI.c.id, HM.c.event_id, HM.c.household, HM.c.local_date)
        .join(HM, HM.c.event_id == FI.c.event_id)
        .where(FI.c.kind == QUOTA_CONFLICT, FI.c.compound == compound,
               FI.c.withdrawn_at.is_(None), HM.c.compound == compound,
               HM.c.household.in_(bindparam("hh", expanding=True)),
               HM.c.local_date.between(lo, hi)), {"hh": households}).all()]
    if not standing:
        return 0
    # the households' exits that still spend an outing, around the findings' days
    known = spent_exits(conn, compound, households, lo - span, hi + span, set(undone))
    exits = {h: [(k[0], k[3]) for k in ks] for h, ks in known.items()}
    spent = {k[1] for ks in known.values() for k in ks}
    why: dict[str, list[str]] = defaultdict(list)
    for t in sorted(taken, key=lambda t: (t.local_date, t.id)):
        why[t.household].append(f"outing at {t.checkpoint} ({t.local_date}) undone at the "
                                f"gate {undone[t.id]}")
    gone = [f for f in standing if f.event_id not in spent
            or conflict_window(exits.get(f.household, []), f.local_date, outings, days)
            is None]
    for f in gone:
        conn.execute(FI.update().where(FI.c.id == f.id).values(
            withdrawn_at=now, withdrawn_why="; ".join(why[f.household])))
    return len(gone)
