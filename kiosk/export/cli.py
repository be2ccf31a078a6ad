"""``kiosk export``, ``kiosk retention`` and ``kiosk audit``: thin click commands over
kiosk.export and kiosk.store.retention / kiosk.store.audit (attached by kiosk.cli)."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click

from kiosk.clibase import Context, fail, pass_ctx
from kiosk.settings import LANGUAGES

#: smaller exports finish before a progress bar would be read
PROGRESS_FROM_ROWS = 10_000


class _Progress:
    """A progress bar on stderr for large exports, sized once the day's events are counted."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def start(self, _cur: object, total: int) -> None:
        if total < PROGRESS_FROM_ROWS:
            return
        self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
        self.bar.__enter__()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("export")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="Local date to export, YYYY-MM-DD (default: yesterday).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the files (default: <data dir>/exports/<date>/).")
@click.option("--all-missing", is_flag=True,
              help="Export every day not yet exported, up to the last due day (catch-up).")
@click.option("--lang", type=click.Choice(LANGUAGES),
              help="Language of the header rows (default: setting export.header_language).")
@click.option("--unmasked", is_flag=True,
              help="Full names and numbers: only for the command's own copy (audited).")
@click.option("--usb", is_flag=True, help="Also copy the files to every mounted USB stick.")
@pass_ctx
def export(ctx: Context, day: datetime | None, out: Path | None, all_missing: bool,
           lang: str | None, unmasked: bool, usb: bool) -> None:
    """Write the nightly report: movements, daily summary, manifest and SHA256SUMS.

    Files: movements_<checkpoint>_<date>.csv, summary_<checkpoint>_<date>.csv,
    manifest_<checkpoint>_<date>.json, SHA256SUMS_<checkpoint>_<date>.txt (docs/EXPORT.md).
    """
    from kiosk.export.nightly import (
        ExportError,
        ExportOptions,
        export_day,
        first_event_date,
        last_exported,
    )
    from kiosk.export.scheduler import copy_to, due_dates, usb_targets
    from kiosk.store.audit import cli_actor

    s = ctx.settings
    engine = ctx.store.engine
    if all_missing and day is not None:
        fail("give either --date or --all-missing, not both")
    if all_missing:
        days = due_dates(last_exported(engine), time.fromisoformat(s.export.time),
                         datetime.now(), first_day=first_event_date(engine))
        if not days:
            click.echo("nothing to catch up: every due day is exported")
            return
    else:
        days = [day.date() if day else date.today() - timedelta(days=1)]
    if unmasked:
        click.secho("unmasked export: full names and numbers; this is written to the audit "
                    "log", fg="yellow", err=True)
    base = Path(s.export.out_dir).expanduser() if s.export.out_dir else \
        ctx.data_dir / "exports"
    for d in days:
        target = out if out is not None else base / d.isoformat()
        bar = _Progress(f"exporting {d}")
        opts = ExportOptions(label=s.checkpoint.id, lang=lang or s.export.header_language,
                             mask=not unmasked and s.export.mask_personal,
                             progress=bar.update, actor=cli_actor())
        try:
            result = export_day(engine, d, target, opts, before_read=bar.start)
        except ExportError as exc:
            fail(str(exc))
        finally:
            bar.close()
        click.echo(f"{d}: {result.events} events -> {result.directory}")
        for f in result.files:
            click.echo(f"  {f.path.name}\t{f.rows} rows\tsha256 {f.sha256}")
        if usb:
            roots = usb_targets(s.export.usb_roots)
            if not roots:
                click.echo("  no USB stick is mounted (export.usb_roots)", err=True)
            for root in roots:
                try:
                    click.echo(f"  copied to {copy_to(result.all_paths, root, d)}")
                except OSError as exc:
                    fail(f"copy to {root} failed: {exc}")


# --- retention -------------------------------------------------------------------------------
@click.group("retention")
def retention() -> None:
    """Wipe personal data of old gate events (the records and daily counts stay)."""


@retention.command("purge")
@click.option("--days", type=click.IntRange(min=1),
              help="Keep personal data this many days (default: privacy.retention_days).")
@click.option("--dry-run", is_flag=True, help="Only say what would be wiped.")
@click.option("--clock-is-right", is_flag=True,
              help="The date is checked (no network time, or nothing recorded in the whole "
              "retention period): purge anyway.")
@pass_ctx
def retention_purge(ctx: Context, days: int | None, dry_run: bool,
                    clock_is_right: bool) -> None:
    """Wipe names, numbers and visitor details of events older than the retention period.
    Refused when the clock cannot be trusted (it sets what is "older")."""
    from kiosk.store.audit import cli_actor
    from kiosk.store.retention import ClockNotTrusted, purge

    keep = days if days is not None else ctx.settings.privacy.retention_days
    try:
        report = purge(ctx.store.engine, keep, actor=cli_actor(), dry_run=dry_run,
                       clock_is_right=clock_is_right)
    except ClockNotTrusted as exc:
        fail(f"{exc} (--clock-is-right)" if "confirm" in str(exc) else str(exc))
    span = f"{report.days[0]} .. {report.days[-1]}" if report.days else "no day"
    verb = "would wipe" if dry_run else "wiped"
    click.echo(f"{verb} personal data of {report.events} events ({span}; before "
               f"{report.cutoff}, keeping {keep} days)")


# --- audit -----------------------------------------------------------------------------------
@click.group("audit")
def audit() -> None:
    """The privacy audit log: who looked up or exported personal data, when, what."""


@audit.command("list")
@click.option("--limit", default=50, show_default=True, help="At most this many entries.")
@click.option("--action", help="Only this action (lookup, export, export_unmasked, purge).")
@pass_ctx
def audit_list(ctx: Context, limit: int, action: str | None) -> None:
    """Newest first: time (in the kiosk's zone, with its offset), actor, action, detail."""
    from kiosk.store.audit import entries
    from kiosk.store.lite import local_time

    for e in entries(ctx.store.engine, action=action, limit=limit):
        click.echo(f"{local_time(e.at):%Y-%m-%d %H:%M:%S%z}\t{e.actor}\t{e.action}\t"
                   f"{e.detail}")
