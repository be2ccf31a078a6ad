"""The nightly report to the district command: movements, daily summary and manifest.

For one local date the export writes, into one directory:

* ``movements_<checkpoint>_<date>.csv``: one row per gate event (docs/EXPORT.md);
* ``summary_<checkpoint>_<date>.csv``: the day's counts per checkpoint (and a total row when
  the store holds several checkpoints, as the central store does);
* ``manifest_<checkpoint>_<date>.json``: rows, bytes and SHA-256 of each file, the event
  sequence range of each device, export time, software version;
* ``SHA256SUMS_<checkpoint>_<date>.txt``: the same hashes for ``sha256sum -c``.

The parts: columns.py is the movement file's column list (one entry per column) and its
SELECT; sql.py turns the core's masks and the formula rule into SQL; summary.py counts the
day; csvfile.py writes safe CSV; this module writes the files, the manifest and the record of
the run.

Speed and memory: the movement rows are shaped entirely in SQL (local time, masking,
formula neutralisation, reason texts, numbers as the text Python would write) and handed in
chunks from the SQLite cursor to csvfile.FastRows, which joins each chunk in a few C calls and
checks it (the csv module writes a chunk it cannot vouch for), so memory stays flat in the
number of rows and Python does no per-row work. The SQL masks are checked against
kiosk.core.privacy, FastRows against the csv module, by the tests. The summary takes two more
passes (docs/BENCHMARKS_export.md).

Everything is read in one read transaction, so the files, the counts and the manifest
describe the same snapshot even while the gate keeps recording.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk import __version__
from kiosk.export.columns import BAKED, MOVEMENTS, header, movements_sql
from kiosk.export.csvfile import FastRows, SafeCsvWriter, WrittenFile, sha256_file
from kiosk.export.scheduler import first_event_date as first_event_date  # the CLI's
from kiosk.export.scheduler import last_exported as last_exported
from kiosk.export.summary import day_filter, write_summary
from kiosk.store import audit, lite

if TYPE_CHECKING:
    from kiosk.store.lite import Source

MANIFEST_FORMAT = "checkpoint-kiosk-export/1"
#: rows fetched from SQLite and written per step (bounded memory, few Python calls)
CHUNK_ROWS = 5000


class ExportError(Exception):
    """The export could not be written; the message says why (shown on the gate screen)."""


# --- the export -------------------------------------------------------------------------------
ProgressFn = Callable[[int], None]


@dataclass
class ExportOptions:
    """How to export. ``label`` names the files (the kiosk's checkpoint id, or e.g.
    "district" on the central store); ``checkpoints`` limits the rows (None: all)."""

    label: str
    checkpoints: Sequence[str] | None = None
    lang: str = "zh"
    mask: bool = True
    #: called with the number of movement rows just written (for a progress bar)
    progress: ProgressFn | None = None
    #: who asked (audit log): a volunteer's name, "scheduler" or "cli:<user>"
    actor: str = "scheduler"
    chunk_rows: int = CHUNK_ROWS


@dataclass
class ExportResult:
    day: date
    directory: Path
    files: list[WrittenFile]
    manifest: Path
    sums: Path
    events: int
    devices: list[dict[str, Any]] = field(default_factory=list)

    @property
    def all_paths(self) -> list[Path]:
        return [f.path for f in self.files] + [self.manifest, self.sums]


_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_label(label: str) -> str:
    """A checkpoint id made safe as part of a file name on Windows and Linux."""
    cleaned = _UNSAFE_FILENAME.sub("_", unicodedata.normalize("NFC", label.strip()))
    return cleaned.strip(". ") or "kiosk"


def file_names(label: str, day: date) -> dict[str, str]:
    stem = f"{safe_label(label)}_{day.isoformat()}"
    return {"movements": f"movements_{stem}.csv", "summary": f"summary_{stem}.csv",
            "manifest": f"manifest_{stem}.json", "sums": f"SHA256SUMS_{stem}.txt"}


def _write_movements(cur: sqlite3.Cursor, path: Path, day: date, opts: ExportOptions) -> \
        WrittenFile:
    params = [day.isoformat(), *(opts.checkpoints or ())]
    fast = FastRows(len(MOVEMENTS), baked=BAKED)
    with SafeCsvWriter(path, header(MOVEMENTS, opts.lang)) as w:
        cur.execute(movements_sql(opts.mask, opts.checkpoints), params)
        while True:
            rows = cur.fetchmany(opts.chunk_rows)
            if not rows:
                break
            w.write_safe_rows(rows, fast)
            if opts.progress is not None:
                opts.progress(len(rows))
        return w.close()


def count_events(cur: sqlite3.Cursor, day: date, checkpoints: Sequence[str] | None) \
        -> int:
    where, cp = day_filter(checkpoints)
    row = cur.execute(f"SELECT count(*) FROM gate_events WHERE {where}{cp}",
                      [day.isoformat(), *(checkpoints or ())]).fetchone()
    return int(row[0])


def _device_ranges(cur: sqlite3.Cursor, day: date,
                   checkpoints: Sequence[str] | None) -> list[dict[str, Any]]:
    """Each device's first and last seq and number of events that day, by device id. Grouped
    by checkpoint too, the order of the day index, so no sort; a device seen at several
    checkpoints that day (rare) is asked again by device alone."""
    where, cp = day_filter(checkpoints)
    params = [day.isoformat(), *(checkpoints or ())]
    rows = cur.execute(f"SELECT device_id, min(seq), max(seq), count(*) FROM gate_events "
                       f"WHERE {where}{cp} GROUP BY checkpoint, device_id", params).fetchall()
    devices = [r[0] for r in rows]
    if len(set(devices)) == len(devices) and all(isinstance(d, str) for d in devices):
        rows.sort(key=lambda r: r[0])  # code point order = SQLite's (UTF-8 byte) order
    else:
        rows = cur.execute(f"SELECT device_id, min(seq), max(seq), count(*) FROM gate_events "
                           f"WHERE {where}{cp} GROUP BY device_id ORDER BY device_id",
                           params).fetchall()
    return [{"device_id": d, "first_seq": lo, "last_seq": hi, "events": n}
            for d, lo, hi, n in rows]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def export_day(engine: Source, day: date, out_dir: Path, opts: ExportOptions,
               *, before_read: Callable[[sqlite3.Cursor, int], None] | None = None,
               now: Callable[[], datetime] = datetime.now) -> ExportResult:
    """Write the day's files into ``out_dir`` and record the run (export_runs) and who ran it
    (audit_log). Raises ExportError, after recording the failed run, when it cannot.

    ``before_read`` is called with the cursor and the number of events before the rows are
    read (the CLI sizes its progress bar with it). ``now`` is the kiosk's local time (naive,
    as the scheduler's) or aware; the run and its audit row keep it in UTC.
    """
    names = file_names(opts.label, day)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with lite.reading(engine) as con:  # one snapshot for files, counts and manifest
            cur = con.cursor()
            try:
                devices = _device_ranges(cur, day, opts.checkpoints)
                if before_read is not None:
                    before_read(cur, sum(d["events"] for d in devices))
                movements = _write_movements(cur, out_dir / names["movements"], day, opts)
                summary = write_summary(cur, out_dir / names["summary"], day, label=opts.label,
                                        lang=opts.lang, checkpoints=opts.checkpoints)
            finally:
                cur.close()
        files = [movements, summary]
        manifest = {
            "format": MANIFEST_FORMAT,
            "date": day.isoformat(),
            "checkpoint": opts.label,
            "checkpoints": list(opts.checkpoints) if opts.checkpoints else None,
            "exported_at": now().astimezone().isoformat(timespec="seconds"),
            "software": "checkpoint-kiosk",
            "software_version": __version__,
            "header_language": opts.lang,
            "masked": opts.mask,
            "events": movements.rows,
            "files": [{"name": f.path.name, "rows": f.rows, "bytes": f.bytes,
                       "sha256": f.sha256} for f in files],
            "devices": devices,
        }
        manifest_path = out_dir / names["manifest"]
        _write_text(manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        sums = out_dir / names["sums"]
        lines = [f"{f.sha256}  {f.path.name}" for f in files]
        lines.append(f"{sha256_file(manifest_path)}  {manifest_path.name}")
        _write_text(sums, "\n".join(lines) + "\n")
    except (OSError, sqlite3.Error) as exc:
        record_run(engine, day, out_dir, "failed", f"{type(exc).__name__}: {exc}",
                   now().astimezone(UTC))
        raise ExportError(f"export of {day} to {out_dir} failed: {exc}") from exc
    detail = {"date": day.isoformat(), "directory": str(out_dir), "events": movements.rows,
              "masked": opts.mask, "label": opts.label}
    record_run(engine, day, out_dir, "ok", json.dumps({"events": movements.rows}),
               now().astimezone(UTC),
               actor=opts.actor,
               audit_action=audit.EXPORT if opts.mask else audit.EXPORT_UNMASKED,
               audit_detail=detail)
    return ExportResult(day, out_dir, files, manifest_path, sums, movements.rows, devices)


_RUN = ("INSERT OR REPLACE INTO export_runs (local_date, finished_at, directory, status, "
        "detail) VALUES (?, ?, ?, ?, ?)")


def record_run(engine: Source, day: date, directory: Path, status: str, detail: str,
               at: datetime, *, actor: str | None = None, audit_action: str | None = None,
               audit_detail: dict[str, Any] | None = None) -> None:
    """Remember the night's export (the latest attempt per date) and audit it, together;
    ``at`` is aware, kept in UTC."""
    with lite.writing(engine) as con:
        con.execute(_RUN, (day.isoformat(), lite.sql_datetime(at.astimezone(UTC)),
                           str(directory), status, detail))
        if actor is not None and audit_action is not None:
            audit.record_in(con, actor, audit_action, audit_detail or {}, at)


