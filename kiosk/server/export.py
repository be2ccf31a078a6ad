"""The nightly report of the central store: the kiosk's export, for all checkpoints together.

No second export is written here. The day's events (each kept verbatim as the kiosk recorded
it, readings included), each pass's last movement before the day (for "still out"), the
day's counts if retention froze them, and the command's roster are copied into a temporary
kiosk store, and kiosk.export.nightly.export_day writes the files from it, exactly as on a
kiosk, with the label "district" and no checkpoint filter (so the summary has a row per
checkpoint plus a total). The central store's retention freezes its counts the same way.

Two fields of a kiosk's record are that kiosk's own row ids and mean nothing across kiosks:

* ``resident_id`` / ``pass_id`` are looked up again by pass number on the command's roster
  (so one resident seen at two gates is one resident in the summary); a pass that is not on
  the command's roster exports as a bare pass number (person type ``pass``);
* ``volunteer_id`` is the kiosk's own volunteer row: each kiosk sends the names of the ids in
  its batches (``device_volunteers``), so the volunteer column shows the name; an id whose
  name never arrived (a kiosk older than this) stays empty rather than possibly wrong.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select

from kiosk.core.event import EventJson, reading_values_from_json, values_from_json
from kiosk.core.model import PassKind
from kiosk.export.csvfile import neutralise
from kiosk.export.nightly import ExportOptions, ExportResult, export_day
from kiosk.server import audit
from kiosk.server.briefing import write_briefing
from kiosk.server.ingest import UNDONE
from kiosk.server.models import (
    CentralSummaryRow,
    DeviceVolunteerRow,
    EventRow,
    RosterEntryRow,
)
from kiosk.store.db import Store, open_store
from kiosk.store.importer import ImportReport, RosterRow, upsert_roster
from kiosk.store.models import (
    DailySummaryRow,
    GateEventRow,
    PassRow,
    ReadingRow,
    VolunteerRow,
    table_of,
)

EV = table_of(EventRow)
ROSTER = table_of(RosterEntryRow)
SUMMARIES = table_of(CentralSummaryRow)
DEVICE_VOLUNTEERS = table_of(DeviceVolunteerRow)
V = table_of(VolunteerRow)
E = table_of(GateEventRow)
RD = table_of(ReadingRow)
P = table_of(PassRow)

#: file label of the central store's export
DISTRICT = "district"
#: events read from the central store and written to the temporary store per step
CHUNK = 5000


#: fields the kiosk's export masks and then neutralises itself (kiosk.export.nightly): a
#: quote put in front before masking would change what the mask keeps
_MASKED_BY_THE_EXPORT = frozenset({"pass_number", "visitor_name", "visitor_phone"})


def _neutralised(values: dict[str, Any]) -> dict[str, Any]:
    """Every text value a spreadsheet would run as a formula, neutralised (csvfile's rule).
    Ingest already refuses such values in the fields the kiosk fills from its own
    enumerations and ids; this is for records kept from before, and for whatever a field's
    check may miss: nothing a device sends reaches a district spreadsheet as a live cell."""
    for k, v in values.items():
        if isinstance(v, str) and k not in _MASKED_BY_THE_EXPORT:
            values[k] = neutralise(v)
    return values


def _roster(engine: Engine, compound: str | None = None) -> list[RosterRow]:
    """The command's roster (every compound, or one) as the rows a kiosk's roster import
    takes."""
    where = [] if compound is None else [ROSTER.c.compound == compound]
    with engine.connect() as conn:
        return [RosterRow(
            line=i, name=r.name, building=r.building, unit=r.unit, room=r.room,
            household=r.household, phone=r.phone, pass_number=r.pass_number,
            pass_kind=PassKind(r.kind), valid_from=r.valid_from, valid_to=r.valid_to,
        ) for i, r in enumerate(conn.execute(select(ROSTER).where(*where)
                                             .order_by(ROSTER.c.pass_number)),
                                start=1)]


def _in(compound: str | None) -> list[Any]:
    """Only ``compound``'s events (None: the district's)."""
    return [] if compound is None else [EV.c.compound == compound]


def _as_enrolled(record: str, checkpoint: str) -> EventJson:
    """A kiosk's record labelled with the checkpoint its device was enrolled as (the
    server's, stored with the event at ingest), not the one the kiosk calls itself."""
    return {**json.loads(record), "checkpoint": checkpoint}


def _records(engine: Engine, day: date, compound: str | None = None
             ) -> Iterable[list[EventJson]]:
    """The day's events as the kiosks recorded them, in chunks."""
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK).execute(
            select(EV.c.record, EV.c.checkpoint).where(EV.c.local_date == day,
                                                       *_in(compound)))
        for part in result.partitions(CHUNK):
            yield [_as_enrolled(r.record, r.checkpoint) for r in part]


def _last_movements_before(engine: Engine, day: date, compound: str | None = None
                           ) -> list[EventJson]:
    """Each pass's last allowed movement at each gate before ``day``: what "still out at
    day's end" needs from earlier days (a resident who went out yesterday and is not back).
    A movement undone at the gate did not happen: the one before it is the last."""
    last = (select(EV.c.device_id, func.max(EV.c.seq).label("seq"))
            .where(EV.c.outcome == "allow", ~UNDONE, EV.c.pass_number.is_not(None),
                   EV.c.local_date < day, *_in(compound))
            .group_by(EV.c.pass_number, EV.c.device_id).subquery())
    with engine.connect() as conn:
        return [_as_enrolled(r.record, r.checkpoint) for r in conn.execute(
            select(EV.c.record, EV.c.checkpoint).join(
                last, and_(EV.c.device_id == last.c.device_id, EV.c.seq == last.c.seq)))]


def _copy_volunteers(engine: Engine, conn: Connection) -> dict[tuple[str, int], int]:
    """The kiosks' volunteers, by name, into the temporary store: {(device, kiosk's id):
    id in the temporary store} (one person at two gates is one volunteer)."""
    with engine.connect() as central:
        known = list(central.execute(select(DEVICE_VOLUNTEERS)))
    ids: dict[str, int] = {}
    for name in sorted({r.name for r in known}):
        ids[name] = conn.execute(insert(V).values(name=name, pin_hash="")
                                 .returning(V.c.id)).scalar_one()
    return {(r.device_id, r.volunteer_id): ids[r.name] for r in known}


def _copy_events(conn: Connection, records: list[EventJson],
                 passes: dict[str, tuple[int, int | None]],
                 volunteers: dict[tuple[str, int], int]) -> None:
    if not records:
        return
    events: list[dict[str, Any]] = []
    readings: list[dict[str, Any]] = []
    for rec in records:
        values = values_from_json(rec)
        pass_id, resident_id = passes.get(values["pass_number"] or "", (None, None))
        volunteer = volunteers.get((values["device_id"], values["volunteer_id"]))
        values.update(pass_id=pass_id, resident_id=resident_id, volunteer_id=volunteer)
        events.append(_neutralised(values))
        readings += [_neutralised(reading_values_from_json(r))
                     for r in rec.get("readings", [])]
    conn.execute(insert(E), events)
    if readings:
        conn.execute(insert(RD), readings)


@contextmanager
def district_store(engine: Engine, day: date, compound: str | None = None
                   ) -> Iterator[Store]:
    """A temporary kiosk store holding what the kiosks' own stores would hold for ``day``:
    the command's roster, the day's events of every checkpoint, each pass's last movement
    before it, and the day's frozen counts if retention has frozen it. With ``compound``:
    that compound's roster and events only, and no frozen counts (they are kept per
    checkpoint name, which two compounds may share)."""
    with tempfile.TemporaryDirectory(prefix="kiosk-central-export-") as tmp:
        store = open_store(Path(tmp) / "kiosk.sqlite3", Path(tmp) / "backups")
        try:
            with store.engine.connect().execution_options(sqlite_immediate=True) as conn:
                # a correction may point at an event of another day, not copied here: the
                # temporary store checks no foreign keys (set before the transaction begins)
                conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA foreign_keys=OFF")
                with conn.begin():
                    upsert_roster(conn, _roster(engine, compound), ImportReport())
                    passes = {r.number: (r.id, r.resident_id)
                              for r in conn.execute(select(P.c.id, P.c.number,
                                                           P.c.resident_id))}
                    volunteers = _copy_volunteers(engine, conn)
                    _copy_events(conn, _last_movements_before(engine, day, compound),
                                 passes, volunteers)
                    for records in _records(engine, day, compound):
                        _copy_events(conn, records, passes, volunteers)
                    if compound is None:
                        _copy_frozen_counts(engine, conn, day)
            yield store
        finally:
            store.close()


def _copy_frozen_counts(engine: Engine, conn: Connection, day: date) -> None:
    with engine.connect() as central:
        rows = [dict(r._mapping) for r in central.execute(
            select(SUMMARIES).where(SUMMARIES.c.local_date == day))]
    if rows:
        conn.execute(insert(DailySummaryRow), rows)


def export_central(engine: Engine, day: date, out_dir: Path, *, lang: str = "zh",
                   mask: bool = True, actor: str = "scheduler",
                   label: str = DISTRICT, compound: str | None = None) -> ExportResult:
    """Write the nightly files of ``day`` for every checkpoint on the central store (or
    for one compound's: kiosk.server.roles.export_scope says which a user may have) into
    ``out_dir`` (kiosk.export.nightly.export_day on a temporary kiosk store), and write who
    did it to the central store's audit log. Raises kiosk.export.nightly.ExportError when
    the files cannot be written."""
    with district_store(engine, day, compound) as store:
        opts = ExportOptions(label=label, checkpoints=None, lang=lang, mask=mask, actor=actor)
        result = export_day(store.engine, day, out_dir, opts)
    # the day's printable briefing beside the files (docs/DASHBOARD.md, "Daily briefing")
    briefing = write_briefing(engine, day, out_dir, label=label, compound=compound, mask=mask)
    audit.record(engine, actor, audit.EXPORT if mask else audit.EXPORT_UNMASKED,
                 {"date": day.isoformat(), "directory": str(out_dir), "events": result.events,
                  "masked": mask, "label": label, "compound": compound,
                  "briefing": briefing.path.name})
    return result
