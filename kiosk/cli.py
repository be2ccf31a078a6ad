"""The ``kiosk`` command: a thin click layer over the library (gate, store, importer, demo).

The commands of the other parts (thermometer, qr, passes, serve, sync, export, retention,
audit) live beside their code and are listed once, in SUBCOMMANDS: each is imported only when
it runs, so ``kiosk check`` never loads the central store's web stack, and an import error in
one of them fails that command loudly instead of making it vanish.

Exit codes: 0 success (``check``: allowed), 1 error, 2 usage error, 3 ``check`` denied,
4 ``check`` needs a re-measure, 5 the database is damaged.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import click

from kiosk import settings as settings_mod
from kiosk.clibase import EXIT_DENIED, EXIT_REMEASURE, Context, fail, pass_ctx
from kiosk.core.decision import Outcome
from kiosk.core.model import Direction, Role
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.settings import SettingsError
from kiosk.store.db import StoreError


@dataclass(frozen=True, slots=True)
class SubCommand:
    """A command that lives in another module: ``module:attr``, and its one-line help, shown
    by ``kiosk --help`` without importing the module (a test keeps it equal to the command's
    own). ``extra``: the optional install extra whose packages the module needs."""

    module: str
    attr: str
    help: str
    extra: str | None = None


#: every command that lives beside its code: one entry per command
SUBCOMMANDS: dict[str, SubCommand] = {
    "thermometer": SubCommand("drivers.cli", "thermometer",
                              "Serial IR thermometer: find it, read it."),
    "qr": SubCommand("kiosk.qr.cli", "qr", "Read QR codes from images."),
    "passes": SubCommand("kiosk.passes_cli", "passes",
                         "Signed QR passes: keys, issuing, printing, revocation."),
    "serve": SubCommand("kiosk.server.cli", "serve",
                        "Run the command's central store (HTTP API for kiosks + dashboard).",
                        extra="server"),
    "sync": SubCommand("kiosk.sync.cli", "sync",
                       "Exchange records with the command's central store."),
    "export": SubCommand("kiosk.export.cli", "export", "Write the nightly report: movements, "
                         "daily summary, manifest and SHA256SUMS."),
    "retention": SubCommand("kiosk.export.cli", "retention", "Wipe personal data of old gate "
                            "events (the records and daily counts stay)."),
    "audit": SubCommand("kiosk.export.cli", "audit", "The privacy audit log: who looked up "
                        "or exported personal data, when, what."),
}
#: our own top-level packages: a missing module among them is a bug, never a missing extra
_OWN_PACKAGES = frozenset({"kiosk", "drivers"})


class LazyGroup(click.Group):
    """A click group whose ``lazy`` commands are imported when they are used (click's
    documented lazy-loading pattern), loudly: an import error propagates, except a third-party
    package of a command's optional extra, which is a clear message saying what to install."""

    def __init__(self, *args: Any, lazy: Mapping[str, SubCommand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            self.add_command(self.load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def load(self, name: str) -> click.Command:
        """Import the command ``name``; ImportError and AttributeError are raised as they are
        (a bug), a missing package of its extra as a click error naming the extra."""
        sub = self.lazy[name]
        try:
            module = importlib.import_module(sub.module)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if sub.extra is None or not missing or missing in _OWN_PACKAGES:
                raise
            raise click.ClickException(
                f"'kiosk {name}' needs the optional '{sub.extra}' part, which is not "
                f"installed here ({missing} is missing). Install it with: "
                f"pip install 'checkpoint-kiosk[{sub.extra}]'") from exc
        command = getattr(module, sub.attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{sub.module}.{sub.attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, lazy commands' help from their entries (nothing imported)."""
        rows = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        for name in names:
            if name in self.lazy and name not in self.commands:
                text = click.Command(name, help=self.lazy[name].help).get_short_help_str(limit)
            else:
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                text = cmd.get_short_help_str(limit)
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class _KioskGroup(LazyGroup):
    """Faults of the machine itself (a full disk, a database file removed, SQLite refusing)
    end every command with a clear message and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import DBAPIError

        from kiosk.store.db import recording_stop

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (OSError, DBAPIError, StoreError) as exc:
            stop = recording_stop(exc)
            if stop is not None:
                fail(str(stop))
            if isinstance(exc, DBAPIError):
                fail(f"the database refused: {str(exc.orig).splitlines()[0]}")
            fail(str(exc))


@click.group(cls=_KioskGroup, lazy=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
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
    # residents' data at rest: every file this process makes (database, WAL, backups,
    # exports, the central store) is 0600 and every directory 0700, from its creation
    os.umask(0o077)
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


# a value may start with "-" (camera.index -1, screening.forehead_offset_c -0.5): taken as
# the value, not as an unknown option
@config.command("set", context_settings={"ignore_unknown_options": True})
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
    from kiosk.store.importer import RosterError, import_roster

    store = ctx.store
    # streamed twice (check, then write): memory stays flat for any size of file
    size = file.stat().st_size * (1 if dry_run else 2)
    try:
        with click.progressbar(length=size, label="checking and importing",
                               file=sys.stderr) as bar:
            report = import_roster(store.engine, file, accept_valid=accept_valid,
                                   dry_run=dry_run, checking=bar.update, progress=bar.update)
    except RosterError as exc:
        fail(f"{file}: {exc}")
    for line, reason in report.rejected:
        click.echo(f"{file}:{line}: rejected: {reason}", err=True)
    if report.rejected_count > len(report.rejected):
        click.echo(f"... and {report.rejected_count - len(report.rejected)} more", err=True)
    if report.rejected and not report.committed and not dry_run:
        fail(f"{report.rejected_count} row(s) rejected; nothing was imported. Fix them, or "
             "use --accept-valid to import the other rows.")
    if dry_run:
        if report.rejected:
            fail(f"dry run: {report.rejected_count} row(s) rejected, nothing was written")
        click.echo(f"dry run: the file is good ({report.rows} rows), nothing was written")
        return
    click.echo(
        f"{report.rows} rows: {report.residents_added} people added, "
        f"{report.residents_updated} updated; {report.passes_added} passes added, "
        f"{report.passes_updated} updated; {report.unchanged} unchanged; "
        f"{report.rejected_count} rejected"
    )


def _print_people(rows: list[tuple[Any, ...]]) -> None:
    for name, building, unit, room, _household, _phone, number, kind, valid_to, revoked, *_ in rows:
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
              help="7-8 digits, not repeated or consecutive; asked for when not given.")
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
    """List volunteers: id, name, role; warns about PINs set under older, weaker rules."""
    from kiosk.store.volunteers import list_volunteers, weak_pins

    for v in list_volunteers(ctx.store.engine):
        click.echo(f"{v.id}\t{v.name}\t{v.role}")
    weak = weak_pins(ctx.store.engine)
    if weak:
        click.secho(f"PIN set under older rules (maybe 4-5 digits, a cheaper hash): "
                    f"{', '.join(weak)}; set a new one (kiosk volunteers add NAME)",
                    fg="yellow", err=True)


# --- check ------------------------------------------------------------------------------
def _finite_temperatures(values: tuple[float, ...]) -> tuple[float, ...]:
    """``--temp nan`` or ``inf`` is no reading: refused before anything is recorded."""
    for v in values:
        if not math.isfinite(v):
            raise click.BadParameter(f"{v} is not a temperature (type one like 36.5)",
                                     param_hint="'--temp'")
    return values


@main.command()
@click.argument("pass_number", metavar="PASS")
@click.option("--temp", "temps", multiple=True, type=float, metavar="°C",
              callback=lambda _c, _p, v: _finite_temperatures(v),
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
    from kiosk.core.messages import message
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
        "findings": [f.value for f in d.findings],
        "counts_against_quota": d.counts_against_quota,
        "name": holder.name if holder else None,
        "event_id": result.event.id,
        "seq": result.event.seq,
        "clock": result.event.clock_state.value,
        "detail_zh": result.detail.zh if result.detail else None,
        "detail_en": result.detail.en if result.detail else None,
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        colour = {"allow": "green", "deny": "red", "remeasure": "yellow"}[d.outcome.value]
        first = d.message.zh if s.ui.language == "zh" else d.message.en
        second = d.message.en if s.ui.language == "zh" else d.message.zh
        click.secho(f"{d.outcome.value.upper()}: {first} / {second}", fg=colour, bold=True)
        if result.detail is not None:  # the facts: the number, the dates, the next outing
            click.secho(f"  {result.detail.zh} / {result.detail.en}", fg=colour)
        for finding in d.findings[1:]:  # e.g. a confirmed fever next to an expired pass
            also = message(finding)
            click.secho(f"  + {also.zh} / {also.en}", fg=colour, bold=True)
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
@click.option("--hub", is_flag=True,
              help="Make it the compound's hub instead (kiosk serve --hub as a service of "
                   "its own, beside a gate or alone; docs/SYNC.md).")
@click.option("--serve-args", default="", metavar="ARGS",
              help='With --hub: what else `kiosk serve --hub` gets, e.g. "--advertise --host '
                   '0.0.0.0 --ssl-certfile /etc/kiosk/hub.pem --ssl-keyfile /etc/kiosk/hub.key".')
def install_service(uninstall: bool, root: Path, service_data_dir: Path, user: str,
                    hub: bool, serve_args: str) -> None:
    """Make this machine a gate kiosk: systemd unit with a watchdog, user, udev rule,
    journald limits, screen kept on (run as root; docs/RASPBERRY_PI.md). Idempotent.
    With --hub: the compound's hub instead (docs/SYNC.md)."""
    import shlex

    from kiosk import service

    if serve_args and not hub:
        fail("--serve-args goes with --hub")
    try:
        hub_args = tuple(shlex.split(serve_args)) if hub else None
    except ValueError as exc:
        fail(f"--serve-args: {exc}")

    if missing := service.missing_tools():
        fail(f"systemd is needed: {', '.join(missing)} not found")
    frozen = getattr(sys, "frozen", False)
    exe = Path(sys.executable) if frozen else Path(sys.executable).parent / "kiosk"
    plan = service.Plan(root=root, kiosk=exe.absolute(), data_dir=service_data_dir, user=user,
                        hub=hub_args)
    try:
        report = (service.uninstall if uninstall else service.install)(plan)
    except (OSError, service.CalledProcessError) as exc:
        fail(f"install-service: {exc}")
    for label, items in (("written", report.written), ("unchanged", report.unchanged),
                         ("removed", report.removed), ("ran", report.ran)):
        for item in items:
            click.echo(f"{label:9} {item}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    main()
