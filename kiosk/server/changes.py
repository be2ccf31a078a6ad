"""What a kiosk downloads: everything that changed since its cursor.

The cursor is two change ids, ``ADMIN.COMPOUND``: what the command published (roster and
volunteers of the kiosk's compound, revocations, pass keys, policy) and the movements
recorded at the other gates of its compound; the command's signed rule sets travel in the
first stream. Pages are ordered by change id, so a kiosk
that crashes half way just asks again from the cursor it last stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, literal, select

from kiosk.server.admin import KEYS, POLICY, REV, ROSTER, VOLUNTEERS
from kiosk.server.cases import for_gate
from kiosk.server.clock import command_today
from kiosk.server.hub import HM, HU, district_cases, district_devices
from kiosk.server.ingest import EV, UNDONE
from kiosk.server.rules import RULES

#: movements older than this are no use to a gate (quota windows are a few days)
MOVEMENT_DAYS = 14
PAGE = 2000


#: change ids are 64-bit signed integers (BIGINT): a cursor past that is no cursor
MAX_CHANGE_ID = 2**63 - 1


class BadCursor(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Cursor:
    admin: int = 0
    movements: int = 0

    @classmethod
    def parse(cls, text: str) -> Cursor:
        if not text:
            return cls()
        try:
            a, m = (int(p) for p in text.split("."))
        except ValueError:
            raise BadCursor(f"bad cursor {text!r}") from None
        if not (0 <= a <= MAX_CHANGE_ID and 0 <= m <= MAX_CHANGE_ID):
            raise BadCursor(f"bad cursor {text!r}")
        return cls(a, m)

    def __str__(self) -> str:
        return f"{self.admin}.{self.movements}"


def _since(conn: Connection, table: Table, after: int, limit: int, *where: Any) -> list[Any]:
    return list(conn.execute(select(table).where(table.c.change_id > after, *where)
                             .order_by(table.c.change_id).limit(limit)))


def changes(engine: Engine, device_id: str, compound: str, cursor: Cursor,
            limit: int = PAGE, today: date | None = None, hub: bool = False
            ) -> dict[str, Any]:
    """One page of changes for a device; ``more`` says whether to ask again. A compound hub
    (``hub``) also gets its compound's gates (kiosk.server.hub.district_devices)."""
    today = today or command_today()
    with engine.connect() as conn:
        admin_rows: list[tuple[int, str, Any]] = []
        more = False
        for kind, table, where in (
            ("roster", ROSTER, (ROSTER.c.compound == compound,)),
            ("revocations", REV, ()),
            ("pass_keys", KEYS, ()),
            ("policy", POLICY, ()),
            ("volunteers", VOLUNTEERS, (VOLUNTEERS.c.compound == compound,)),
            ("rules", RULES, ()),
        ):
            rows = _since(conn, table, cursor.admin, limit, *where)
            more |= len(rows) == limit
            admin_rows += [(r.change_id, kind, r) for r in rows]
        admin_rows.sort(key=lambda t: t[0])
        if len(admin_rows) > limit:
            more = True
            admin_rows = admin_rows[:limit]
        out: dict[str, Any] = {"roster": [], "revocations": [], "pass_keys": [], "policy": {},
                               "volunteers": [], "rules": []}
        for _, kind, r in admin_rows:
            if kind == "roster":
                out["roster"].append({
                    "pass_number": r.pass_number, "name": r.name, "building": r.building,
                    "unit": r.unit, "room": r.room, "household": r.household,
                    "phone": r.phone, "kind": r.kind, "valid_from": r.valid_from.isoformat(),
                    "valid_to": r.valid_to.isoformat()})
            elif kind == "revocations":
                out["revocations"].append({"pass_number": r.pass_number, "reason": r.reason,
                                           "revoked_at": r.revoked_at.isoformat()})
            elif kind == "pass_keys":
                out["pass_keys"].append({"key_id": r.key_id, "public_key_hex": r.public_key_hex,
                                         "active": r.active})
            elif kind == "rules":  # signed by the command: the kiosk checks, not trusts
                out["rules"].append({"body": r.body, "key_id": r.key_id,
                                     "signature": r.signature})
            elif kind == "volunteers":
                out["volunteers"].append({"name": r.name, "role": r.role,
                                          "pin_hash": r.pin_hash, "active": r.active})
            else:
                out["policy"][r.key] = r.value
        admin_top = admin_rows[-1][0] if admin_rows else cursor.admin
        since = today - timedelta(days=MOVEMENT_DAYS)
        # the allowed movements and the corrections (undos) of the other gates, in one
        # stream: a correction comes after the movement it undoes, so a kiosk that has the
        # movement drops it when the correction arrives; a movement already undone here is
        # not sent at all
        moves: list[Any] = list(conn.execute(
            select(EV.c.id, EV.c.device_id, EV.c.checkpoint, EV.c.seq, EV.c.pass_number,
                   EV.c.household, EV.c.direction, EV.c.local_date, EV.c.wall_utc,
                   EV.c.received_at, EV.c.counts_against_quota, EV.c.change_id,
                   EV.c.corrects_event_id, literal(False).label("relayed"))
            .where(EV.c.compound == compound, EV.c.change_id > cursor.movements,
                   EV.c.local_date >= since,
                   EV.c.device_id != device_id,
                   ((EV.c.outcome == "allow") & ~UNDONE
                    & ~EV.c.id.in_(select(HU.c.event_id)))  # undone as a hub heard
                   | EV.c.corrects_event_id.is_not(None),
                   EV.c.pass_number.is_not(None))
            .order_by(EV.c.change_id).limit(limit)))
        # on a compound hub: the district's movements of gates that did not come through
        # it, in the same change stream (empty at the district)
        moves += conn.execute(
            select(HM.c.event_id.label("id"), HM.c.device_id, HM.c.checkpoint, HM.c.seq,
                   HM.c.pass_number, HM.c.household, HM.c.direction, HM.c.local_date,
                   HM.c.wall_utc, HM.c.wall_utc.label("received_at"),
                   HM.c.counts_against_quota, HM.c.change_id,
                   literal(None).label("corrects_event_id"), literal(True).label("relayed"))
            .where(HM.c.compound == compound, HM.c.change_id > cursor.movements,
                   HM.c.local_date >= since, HM.c.device_id != device_id)
            .order_by(HM.c.change_id).limit(limit)).all()
        # on a compound hub: movements the district says were undone at a gate that did
        # not come through it (kiosk.server.hub._apply_undone)
        moves += conn.execute(
            select(HU.c.event_id.label("corrects_event_id"), HU.c.change_id)
            .where(HU.c.compound == compound, HU.c.change_id > cursor.movements)
            .order_by(HU.c.change_id).limit(limit)).all()
        moves = sorted(moves, key=lambda m: int(m.change_id))[:limit]
        more |= len(moves) == limit
        move_top = moves[-1].change_id if moves else cursor.movements
        out["movements"] = [{
            "event_id": m.id, "device_id": m.device_id, "checkpoint": m.checkpoint,
            "seq": m.seq, "pass_number": m.pass_number, "household": m.household,
            "direction": m.direction, "local_date": m.local_date.isoformat(),
            # never later than its arrival here: a kiosk clock that ran fast must not
            # keep a person "out" at the other gates (kiosk.ui.vm.queries.who_is_out)
            "wall_utc": (m.wall_utc if m.relayed  # the district's, already bounded
                         else min(m.wall_utc, m.received_at)).isoformat(),
            "counts_against_quota": m.counts_against_quota,
        } for m in moves if m.corrects_event_id is None]
        # movements of the other gates undone there (the ids of the movements)
        out["undone"] = [m.corrects_event_id for m in moves
                         if m.corrects_event_id is not None]
        # the compound's fever cases someone took over (a few rows, sent whole each time;
        # kiosks that do not know the key ignore it); on a hub, with the district's cases
        # (the newer state of a case wins)
        cases = {c["event_id"]: c for c in district_cases(conn)}
        for c in for_gate(conn, compound):
            if c["event_id"] not in cases or c["updated_at"] > cases[c["event_id"]][
                    "updated_at"]:
                cases[c["event_id"]] = c
        out["cases"] = list(cases.values())
        if hub:
            out["devices"] = district_devices(conn, compound)
    out["cursor"] = str(Cursor(admin_top, move_top))
    out["more"] = more
    return out
