"""The ``kiosk`` command: a thin click layer over the library (gate, store, importer, demo).

Exit codes: 0 success (``check``: allowed), 1 error, 2 usage error, 3 ``check`` denied,
4 ``check`` needs a re-measure, 5 the database is damaged.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from kiosk import settings as settings_mod
from kiosk.core.decision import Outcome
from kiosk.core.model import Direction, Role
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.settings import Settings, SettingsError
from kiosk.store.db import Store, StoreCorrupt, StoreError, open_store

DB_FILE = "kiosk.sqlite3"
EXIT_ERROR, EXIT_DENIED, EXIT_REMEASURE, EXIT_CORRUPT = 1, 3, 4, 5


@dataclass
class Context:
    """Per-invocation state: the data directory, and settings and store opened on demand."""

    data_dir: Path
    _settings: Settings | None = None
    _store: Store | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = settings_mod.load(self.data_dir)
            except SettingsError as exc:
                fail(f"settings: {exc}")
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = open_store(self.data_dir / DB_FILE)
            except StoreCorrupt as exc:
                fail(str(exc), EXIT_CORRUPT)
            except (StoreError, OSError) as exc:
                fail(f"cannot open the database in {self.data_dir}: {exc}")
            self.closers.append(self._store.close)
        return self._store


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(code)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="KIOSK_DATA_DIR",
    help="Where this kiosk keeps its database, settings and backups "
    "(env KIOSK_DATA_DIR; default: the user data directory).",
)
@click.version_option(package_name="checkpoint-kiosk")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Checkpoint Kiosk: register every movement at a compound gate, offline."""
    obj = Context(data_dir=settings_mod.resolve_data_dir(data_dir))
    ctx.obj = obj
    ctx.call_on_close(lambda: [close() for close in obj.closers])


# --- config -----------------------------------------------------------------------------
@main.group()
def config() -> None:
    """Show or change this kiosk's settings (settings.toml in the data directory)."""


@config.command("show")
@pass_ctx
def config_show(ctx: Context) -> None:
    """Print all settings as TOML."""
    click.echo(f"# {ctx.data_dir / settings_mod.SETTINGS_FILE}")
    click.echo(settings_mod.to_toml(ctx.settings), nl=False)


@config.command("set")
@click.argument("key")
@click.argument("value")
@pass_ctx
def config_set(ctx: Context, key: str, value: str) -> None:
    """Set one setting, e.g. ``kiosk config set screening.fever_threshold_c 37.3``."""
    if key == "device.id":
        fail("device.id identifies this kiosk's records and cannot be changed")
    try:
        settings_mod.update(ctx.data_dir,
                            lambda s: settings_mod.set_value(s, key, value))
    except SettingsError as exc:
        fail(str(exc))
    click.echo(f"{key} = {value}")


# --- db ---------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The local database: migrations, checks, backups."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Context) -> None:
    """Apply pending migrations (the kiosk also does this at every start)."""
    from kiosk.store.db import current_revision

    click.echo(f"database {ctx.store.path} at revision {current_revision(ctx.store.engine)}")


@db.command("check")
@pass_ctx
def db_check(ctx: Context) -> None:
    """Integrity check and verification of this kiosk's event hash chain."""
    from kiosk.store.events import verify_chain

    problems = verify_chain(ctx.store.engine, ctx.settings.device.id)
    if problems:
        for p in problems:
            click.echo(p)
        fail(f"{len(problems)} problem(s) in the event records")
    click.echo(f"{ctx.store.path}: ok")


@db.command("backup")
@pass_ctx
def db_backup(ctx: Context) -> None:
    """Make a backup now (one is made automatically once a day)."""
    from kiosk.store.db import make_backup

    target = make_backup(ctx.store.path, ctx.store.path.parent / "backups", force=True)
    click.echo(str(target))


# --- residents --------------------------------------------------------------------------
@main.group()
def residents() -> None:
    """The roster of residents and their passes."""


@residents.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--accept-valid", is_flag=True,
              help="Import the good rows even when some rows are rejected.")
@click.option("--dry-run", is_flag=True, help="Check the file, write nothing.")
@pass_ctx
def residents_import(ctx: Context, file: Path, accept_valid: bool, dry_run: bool) -> None:
    """Import or update the roster from a CSV file (UTF-8, UTF-8 with BOM, or GBK).

    Columns (English or Chinese headers): name/姓名, building/楼栋, unit/单元, room/房号,
    household/户号, phone/电话, pass_number/通行证号, pass_kind/类别, valid_from/有效期起,
    valid_to/有效期止. By default a single bad row means nothing is imported.
    """
    from kiosk.store.importer import RosterError, apply_roster, load_roster

    store = ctx.store
    try:
        good, bad = load_roster(file)
    except RosterError as exc:
        fail(f"{file}: {exc}")
    with click.progressbar(length=len(good), label="importing", file=sys.stderr) as bar:
        report = apply_roster(store.engine, good, bad, accept_valid=accept_valid,
                              dry_run=dry_run, progress=bar.update)
    for line, reason in report.rejected:
        click.echo(f"{file}:{line}: rejected: {reason}", err=True)
    if report.rejected and not report.committed:
        fail(f"{len(report.rejected)} row(s) rejected; nothing was imported. Fix them, or "
             "use --accept-valid to import the other rows.")
    if dry_run:
        click.echo("dry run: the file is good, nothing was written")
        return
    click.echo(
        f"{report.rows} rows: {report.residents_added} people added, "
        f"{report.residents_updated} updated; {report.passes_added} passes added, "
        f"{report.passes_updated} updated; {report.unchanged} unchanged; "
        f"{len(report.rejected)} rejected"
    )


def _print_people(rows: list[tuple[Any, ...]]) -> None:
    for name, building, unit, room, _household, _phone, number, kind, valid_to, revoked in rows:
        place = "-".join(x for x in (building, unit, room) if x) or "-"
        state = " REVOKED" if revoked else ""
        click.echo(f"{number or '-':<10} {name:<8}\t{place:<10} {kind or '-':<9} "
                   f"until {valid_to or '-'}{state}")


@residents.command("list")
@click.option("--building", help="Only this building.")
@click.option("--limit", default=50, show_default=True, help="At most this many people.")
@pass_ctx
def residents_list(ctx: Context, building: str | None, limit: int) -> None:
    """List people on the roster with their passes."""
    from sqlalchemy import select

    from kiosk.store.models import PassRow, ResidentRow, table_of

    r, p = table_of(ResidentRow), table_of(PassRow)
    stmt = (select(r.c.name, r.c.building, r.c.unit, r.c.room, r.c.household, r.c.phone,
                   p.c.number, p.c.kind, p.c.valid_to, p.c.revoked)
            .select_from(r.outerjoin(p, p.c.resident_id == r.c.id))
            .order_by(r.c.building, r.c.unit, r.c.room).limit(limit))
    if building:
        stmt = stmt.where(r.c.building == building)
    with ctx.store.engine.connect() as conn:
        _print_people([tuple(x) for x in conn.execute(stmt)])


@residents.command("find")
@click.argument("query")
@pass_ctx
def residents_find(ctx: Context, query: str) -> None:
    """Find by pass number, building-unit-room (12-3-402) or part of a name."""
    from kiosk.store import audit
    from kiosk.store.roster import search_residents

    with ctx.store.engine.connect() as conn:
        rows = search_residents(conn, query)
    audit.record(ctx.store.engine, audit.cli_actor(), audit.LOOKUP,
                 {"query": query, "results": len(rows)})
    if not rows:
        fail(f"nobody matches '{query}'")
    _print_people(rows)


# --- volunteers -------------------------------------------------------------------------
@main.group()
def volunteers() -> None:
    """Volunteers who sign in at the gate."""


@volunteers.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="volunteer",
              help="An admin can open the admin screen and change settings.")
@click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True,
              help="4-8 digits; asked for when not given.")
@pass_ctx
def volunteers_add(ctx: Context, name: str, role: str, pin: str) -> None:
    """Add a volunteer (or reset an existing volunteer's PIN)."""
    from kiosk.store.volunteers import VolunteerError, add_volunteer

    try:
        add_volunteer(ctx.store.engine, name, pin, Role(role))
    except VolunteerError as exc:
        fail(str(exc))
    click.echo(f"{name} ({role}) saved")


@volunteers.command("list")
@pass_ctx
def volunteers_list(ctx: Context) -> None:
    """List volunteers: id, name, role."""
    from kiosk.store.volunteers import list_volunteers

    for v in list_volunteers(ctx.store.engine):
        click.echo(f"{v.id}\t{v.name}\t{v.role}")


# --- check ------------------------------------------------------------------------------
@main.command()
@click.argument("pass_number", metavar="PASS")
@click.option("--temp", "temps", multiple=True, type=float, metavar="°C",
              help="A temperature reading; repeat for a re-measure (in the order taken).")
@click.option("--direction", type=click.Choice(["in", "out"]),
              help="Default: the opposite of the person's last movement here.")
@click.option("--volunteer", help="Name of the volunteer on duty (recorded).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
def check(ctx: Context, pass_number: str, temps: tuple[float, ...], direction: str | None,
          volunteer: str | None, as_json: bool) -> None:
    """Decide one movement exactly as the app does, and record it.

    PASS is a pass number or the text of a signed QR pass (as a scanner types it).
    Exit code 0 allowed, 3 denied, 4 measure again.
    """
    from kiosk.gate import Gate, GateError
    from kiosk.store.volunteers import find_volunteer

    s = ctx.settings
    volunteer_id = None
    if volunteer:
        info = find_volunteer(ctx.store.engine, volunteer)
        if info is None:
            fail(f"no volunteer named '{volunteer}' (see: kiosk volunteers list)")
        volunteer_id = info.id
    readings = [make_reading(t, offset_c=s.screening.forehead_offset_c,
                             source=ReadingSource.MANUAL) for t in temps]
    gate = Gate(ctx.store, s)
    presented = gate.present(pass_number)
    try:
        result = gate.check(presented.number, readings,
                            direction=Direction(direction) if direction else None,
                            volunteer_id=volunteer_id, identified_by="cli",
                            found=presented.found, problem=presented.problem)
    except GateError as exc:
        fail(str(exc))
    finally:
        gate.close()
    d = result.decision
    holder = result.found.gate_pass.holder if result.found else None
    out = {
        "pass_number": presented.number,
        "direction": result.direction.value,
        "outcome": d.outcome.value,
        "reason": d.reason.value,
        "message_zh": d.message.zh,
        "message_en": d.message.en,
        "escalate": d.escalate,
        "counts_against_quota": d.counts_against_quota,
        "name": holder.name if holder else None,
        "event_id": result.event.id,
        "seq": result.event.seq,
        "clock": result.event.clock_state.value,
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        colour = {"allow": "green", "deny": "red", "remeasure": "yellow"}[d.outcome.value]
        first = d.message.zh if s.ui.language == "zh" else d.message.en
        second = d.message.en if s.ui.language == "zh" else d.message.zh
        click.secho(f"{d.outcome.value.upper()}: {first} / {second}", fg=colour, bold=True)
        who = f"{holder.name} {holder.building}-{holder.unit}-{holder.room}" if holder else "-"
        click.echo(f"{out['pass_number']} {who} {result.direction.value}; "
                   f"event {result.event.seq} ({result.event.id}), clock {out['clock']}")
    if d.outcome is Outcome.DENY:
        sys.exit(EXIT_DENIED)
    if d.outcome is Outcome.REMEASURE:
        sys.exit(EXIT_REMEASURE)


# --- demo -------------------------------------------------------------------------------
@main.command()
@click.option("--no-app", is_flag=True, help="Only create the demo compound.")
@pass_ctx
def demo(ctx: Context, no_app: bool) -> None:
    """Create the demo compound (once; reused afterwards) and start the kiosk on it."""
    from kiosk.demo import demo_examples, demo_exists, make_demo, reset_demo_volunteers

    s = ctx.settings
    engine = ctx.store.engine
    if s.checkpoint.id == settings_mod.CheckpointSettings().id:
        s.checkpoint.id, s.checkpoint.name = "beiyuan-north", "北苑小区北门"
        settings_mod.save(ctx.data_dir, s)
    today = date.today()
    label = "updating the demo compound" if demo_exists(engine) else "creating the demo compound"
    with click.progressbar(length=22_500, label=label, file=sys.stderr) as bar:
        report = make_demo(engine, today, progress=bar.update)
    click.echo(f"demo compound: {report.rows} people in 99 buildings "
               f"({report.passes_added} new passes, {report.passes_updated} updated)")
    click.echo("volunteers (PINs are new each time the demo runs):")
    for v in reset_demo_volunteers(engine):
        click.echo(f"  {v.name}\t{v.role.value:<9}\tPIN {v.pin}")
    me = f"kiosk --data-dir {ctx.data_dir}"
    ex = demo_examples(engine, today)
    tries = [
        ("resident", "--temp 36.5 --direction out", "a resident goes out"),
        ("resident", "--temp 36.6", "...and comes back in"),
        ("fever", "--temp 37.8 --temp 37.9", "fever, confirmed by the re-measure"),
        ("expired", "--temp 36.5", "an expired pass"),
        ("worker", "--temp 36.4 --direction out", "a railway worker (no quota)"),
    ]
    click.echo("\nTry the gate:")
    for key, args, what in tries:
        if key in ex:
            click.echo(f"  {me} check {ex[key]} {args:<28} # {what}")
    click.echo(f"  {me} residents find 12-2-301")
    if not no_app:
        click.echo("\nStarting the touchscreen app with a simulated thermometer "
                   "(F5: 36.5 °C, F6: 38.2 °C fever, F7: unplug/replug).")
        _run_app(ctx, windowed=True, size=(1280, 800), simulate_thermometer=True)


# --- app --------------------------------------------------------------------------------
def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use WIDTHxHEIGHT, e.g. 800x480") from None
    return w, h


def _run_app(ctx: Context, *, windowed: bool, size: tuple[int, int],
             simulate_thermometer: bool) -> None:
    ctx.settings  # noqa: B018 - settings errors are reported before any window opens
    from kiosk.ui.app import run_app

    for close in ctx.closers:  # the app opens its own store
        close()
    ctx.closers.clear()
    run_app(ctx.data_dir, windowed=windowed, size=size,
            simulate_thermometer=simulate_thermometer)


@main.command("app")
@click.option("--windowed", is_flag=True, help="A window instead of full screen.")
@click.option("--size", default="800x480", show_default=True,
              help="Window size (the 7-inch Pi panel is 800x480).")
@click.option("--simulate-thermometer", is_flag=True,
              help="Use a simulated thermometer on a pseudo-terminal.")
@pass_ctx
def app_cmd(ctx: Context, windowed: bool, size: str, simulate_thermometer: bool) -> None:
    """Start the touchscreen kiosk (full screen unless --windowed)."""
    _run_app(ctx, windowed=windowed, size=_parse_size(size),
             simulate_thermometer=simulate_thermometer)


@main.command("self-test")
@pass_ctx
def self_test(ctx: Context) -> None:
    """Headless checks of this installation: database and migrations, font, drivers, assets.
    Exit code 0 when all pass (``dist/kiosk/kiosk --self-test`` runs this)."""
    from kiosk.ui.selftest import run_checks

    failed = 0
    for name, ok, detail in run_checks(ctx.data_dir):
        failed += not ok
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if failed:
        fail(f"{failed} self-test check(s) failed")


@main.command("install-service")
@click.option("--uninstall", is_flag=True, help="Remove what it wrote (never the data or user).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Install into this root (an image, a test) instead.")
@click.option("--service-data-dir", type=click.Path(path_type=Path),
              default=Path("/var/lib/checkpoint-kiosk"), show_default=True,
              help="The kiosk's data directory on the target.")
@click.option("--user", default="kiosk", show_default=True, help="The system user to run as.")
def install_service(uninstall: bool, root: Path, service_data_dir: Path, user: str) -> None:
    """Make this machine a gate kiosk: systemd unit with a watchdog, user, udev rule,
    journald limits, screen kept on (run as root; docs/RASPBERRY_PI.md). Idempotent."""
    from kiosk import service

    if missing := service.missing_tools():
        fail(f"systemd is needed: {', '.join(missing)} not found")
    frozen = getattr(sys, "frozen", False)
    exe = Path(sys.executable) if frozen else Path(sys.executable).parent / "kiosk"
    plan = service.Plan(root=root, kiosk=exe.absolute(), data_dir=service_data_dir, user=user)
    try:
        report = (service.uninstall if uninstall else service.install)(plan)
    except (OSError, service.CalledProcessError) as exc:
        fail(f"install-service: {exc}")
    for label, items in (("written", report.written), ("unchanged", report.unchanged),
                         ("removed", report.removed), ("ran", report.ran)):
        for item in items:
            click.echo(f"{label:9} {item}")


def _attach_optional_groups() -> None:
    """Device and pass commands live beside their drivers."""
    for module, name in (("drivers.cli", "thermometer"), ("kiosk.qr.cli", "qr"),
                         ("kiosk.passes_cli", "passes"), ("kiosk.server.cli", "serve"),
                         ("kiosk.sync.cli", "sync"),
                         *(("kiosk.export.cli", n) for n in ("export", "retention", "audit"))):
        try:
            mod = __import__(module, fromlist=[name])
        except ImportError:
            continue
        group = getattr(mod, name, None)
        if isinstance(group, click.Command):
            main.add_command(group, name)


_attach_optional_groups()

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    main()
