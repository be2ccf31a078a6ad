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
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select

from kiosk.server.models import EventRow, FindingRow, PolicyEntryRow
from kiosk.server.tallies import UNDONE
from kiosk.store.models import table_of

EV = table_of(EventRow)
FI = table_of(FindingRow)
PO = table_of(PolicyEntryRow)
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
    taken = conn.execute(
        select(EV.c.id, EV.c.household, EV.c.local_date, EV.c.checkpoint)
        .where(EV.c.id.in_(bindparam("ids", expanding=True)), EV.c.compound == compound,
               EV.c.household.is_not(None), EV.c.counts_against_quota.is_(True),
               EV.c.outcome == "allow"), {"ids": sorted(undone)}).all()
    if not taken:
        return 0
    span = timedelta(days=max(days, 1) - 1)
    lo = min(t.local_date for t in taken) - span
    hi = max(t.local_date for t in taken) + span
    households = sorted({t.household for t in taken})
    standing = conn.execute(
        select(FI.c.id, EV.c.id.label("event_id"), EV.c.household, EV.c.local_date)
        .join(EV, EV.c.id == FI.c.event_id)
        .where(FI.c.kind == QUOTA_CONFLICT, FI.c.compound == compound,
               FI.c.withdrawn_at.is_(None), EV.c.compound == compound,
               EV.c.household.in_(bindparam("hh", expanding=True)),
               EV.c.local_date.between(lo, hi)), {"hh": households}).all()
    if not standing:
        return 0
    # the households' exits that still spend an outing, around the findings' days
    exits: dict[str, list[tuple[date, str]]] = defaultdict(list)
    spent: set[str] = set()
    for e in conn.execute(
        select(EV.c.id, EV.c.household, EV.c.local_date, EV.c.device_id)
        .where(EV.c.compound == compound,
               EV.c.household.in_(bindparam("hh", expanding=True)),
               EV.c.local_date.between(lo - span, hi + span),
               EV.c.counts_against_quota.is_(True), EV.c.outcome == "allow",
               EV.c.id.not_in(select(UNDONE.c.event_id))), {"hh": households}):
        exits[e.household].append((e.local_date, e.device_id))
        spent.add(e.id)
    why: dict[str, list[str]] = defaultdict(list)
    for t in sorted(taken, key=lambda t: (t.local_date, t.id)):
        why[t.household].append(f"outing at {t.checkpoint} ({t.local_date}) undone at the "
                                f"gate {undone[t.id]}")
    gone = [f for f in standing if f.event_id not in spent
            or conflict_window(exits[f.household], f.local_date, outings, days) is None]
    for f in gone:
        conn.execute(FI.update().where(FI.c.id == f.id).values(
            withdrawn_at=now, withdrawn_why="; ".join(why[f.household])))
    return len(gone)
