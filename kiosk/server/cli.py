"""``kiosk serve``: run the central store, and the command's chores on it (a thin click layer
over kiosk.server.admin)."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import Engine

from kiosk.clibase import Context, fail
from kiosk.core.policy import DEFAULT_FEVER_THRESHOLD_C
from kiosk.server import admin
from kiosk.server.app import (
    BODY_TIMEOUT_ENV,
    BODY_TIMEOUT_S,
    DB_ENV,
    HEADER_TIMEOUT_ENV,
    HEADER_TIMEOUT_S,
    HUB_DIR_ENV,
)
from kiosk.server.clock import command_today
from kiosk.server.db import default_url, open_server_store
from kiosk.server.roles import Role
from kiosk.server.web.settings import DEFAULT_ZONE, TZ_ENV, BadZone, zone_named
from kiosk.settings import LANGUAGES
from kiosk.store.importer import RosterError, load_roster

_DB_OPTION = click.option(
    "--db", "db_url", envvar=DB_ENV,
    help="Database URL: sqlite:///PATH (default: <data dir>/central/central.sqlite3) or "
         "postgresql+psycopg://USER@HOST:PORT/DB (env KIOSK_SERVER_DB).")


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.group(invoke_without_command=True)
@_DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs TLS (--ssl-certfile) "
                   "or --behind-tls-proxy (docs/SYNC.md).")
@click.option("--port", default=8470, show_default=True, type=int, help="TCP port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int,
              help="Worker processes (stateless; PostgreSQL recommended for more than one).")
@click.option("--timezone", "zone", envvar=TZ_ENV, default=DEFAULT_ZONE, show_default=True,
              help="The command's time zone: the dashboard shows times and 'today' in it "
                   f"(IANA name, env {TZ_ENV}).")
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this certificate (PEM, full chain).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False),
              help="The certificate's private key (PEM).")
@click.option("--behind-tls-proxy", is_flag=True,
              help="Plain HTTP on a non-loopback address, because a TLS proxy on another "
                   "machine is the only one that reaches it.")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True,
              envvar="KIOSK_TRUSTED_PROXIES",
              help="Address or network of a proxy whose X-Forwarded-For/-Proto are believed "
                   "(repeat, or space-separated in env KIOSK_TRUSTED_PROXIES). Default: none, "
                   "every caller is who the connection says.")
@click.option("--body-timeout", default=BODY_TIMEOUT_S, show_default=True, type=float,
              help="Seconds a client may take to send a request's body (then 408).")
@click.option("--header-timeout", default=HEADER_TIMEOUT_S, show_default=True, type=float,
              help="Seconds a client may take to send a request's line and headers (then "
                   "408 and the connection is closed).")
@click.option("--hub", is_flag=True,
              help="Run as the compound hub: the gates on the LAN sync here every few "
                   "seconds, and it relays to the district (kiosk serve hub enrol; "
                   "docs/SYNC.md). One worker, SQLite by default.")
@click.option("--advertise", is_flag=True,
              help="With --hub: announce the hub on the LAN by mDNS (_checkpoint-hub._tcp), "
                   "so gates set to sync.hub = auto find it (needs zeroconf).")
@click.pass_context
def serve(ctx: click.Context, db_url: str | None, host: str, port: int, workers: int,
          zone: str, ssl_certfile: str | None, ssl_keyfile: str | None, behind_tls_proxy: bool,
          trusted_proxies: tuple[str, ...], body_timeout: float, header_timeout: float,
          hub: bool, advertise: bool) -> None:
    """Run the command's central store (HTTP API for kiosks + dashboard).

    With --hub: its compound's hub on the LAN, relaying to the district (docs/SYNC.md)."""
    obj: Context = ctx.obj
    url = db_url or default_url(obj.data_dir)
    ctx.meta["serve_db"] = url
    try:
        zone_named(zone)
    except BadZone as exc:
        fail(str(exc))
    # the subcommands' "today" and the times they print are the command's too
    os.environ[TZ_ENV] = zone
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    if bool(ssl_certfile) != bool(ssl_keyfile):
        fail("--ssl-certfile and --ssl-keyfile go together")
    if not ssl_certfile and not behind_tls_proxy and not is_loopback(host):
        fail(f"refusing plain HTTP on {host}: kiosk secrets and residents' data would cross "
             "the network in clear. Give --ssl-certfile and --ssl-keyfile, or put a TLS "
             "proxy in front and say --behind-tls-proxy (docs/SYNC.md, TLS)")
    proxies = [p for item in trusted_proxies for p in item.split()]
    for p in proxies:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            fail(f"--trusted-proxy {p}: not an address or network")
    try:
        open_server_store(url).dispose()  # migrate once, before the workers start
    except Exception as exc:  # noqa: BLE001 - any database error ends here, told plainly
        fail(f"cannot open the central store {url}: {exc}")
    os.environ[DB_ENV] = url
    os.environ[BODY_TIMEOUT_ENV] = str(body_timeout)
    os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout)
    scheme = "https" if ssl_certfile else "http"
    announcer = None
    if hub:
        if workers != 1:
            fail("a hub runs one worker (its relay is one thread)")
        os.environ[HUB_DIR_ENV] = str(obj.data_dir)
        if advertise:
            from kiosk.sync.discover import advertise_hub

            announcer = advertise_hub(host, port, scheme)
    elif advertise:
        fail("--advertise goes with --hub")
    click.echo(f"{'compound hub' if hub else 'central store'} {url} on "
               f"{scheme}://{host}:{port}/", err=True)
    uvicorn.run("kiosk.server.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", timeout_graceful_shutdown=5,
                ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies,
                # uvicorn's h11 protocol with a deadline on request heads (slow senders)
                http="kiosk.server.headtimeout:HeadDeadlineProtocol")
    if announcer is not None:
        announcer.close()


def _engine(ctx: click.Context) -> Engine:
    obj: Context = ctx.obj
    url = ctx.meta.get("serve_db") or default_url(obj.data_dir)
    try:
        engine = open_server_store(url)
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot open the central store {url}: {exc}")
    obj.closers.append(engine.dispose)
    return engine


@serve.command("enrol")
@click.option("--checkpoint", help="Name of the gate the kiosk stands at (required, unless "
                                   "--replace keeps the device's).")
@click.option("--compound", help="Gates of one compound share residents' movements and "
                                 "outing quotas (default: default, or the replaced device's).")
@click.option("--replace", "replaces", metavar="DEVICE_ID",
              help="A code that re-binds this enrolled device id (a reinstalled kiosk; its "
                   "old secret stops working); no other code can.")
@click.option("--hub", is_flag=True,
              help="A code for the compound's hub (kiosk serve hub enrol), not a gate.")
@click.pass_context
def serve_enrol(ctx: click.Context, checkpoint: str | None, compound: str | None,
                replaces: str | None, hub: bool) -> None:
    """Print a one-time enrolment code for one kiosk (valid 24 hours)."""
    if hub and checkpoint is None:
        checkpoint = "hub"
    if checkpoint is None and replaces is None:
        fail("--checkpoint is required (or --replace DEVICE_ID)")
    try:
        code = admin.make_enrolment_code(_engine(ctx), checkpoint, compound,
                                         replaces=replaces, role="hub" if hub else "kiosk")
    except admin.AdminError as exc:
        fail(str(exc))
    click.echo(code)
    click.echo(f"on the kiosk: kiosk sync enrol {code} --url https://SERVER/", err=True)


@serve.group("user")
def serve_user() -> None:
    """Command staff who may open the dashboard."""


@serve_user.command("add")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="KIOSK_USER_PASSWORD", help="At least 8 characters (prompted).")
@click.option("--role", type=click.Choice([r.value for r in Role]),
              help="district: every compound; compound: only --compound; viewer: counts and "
                   "pictures, personal data masked (new users: district; a reset keeps it).")
@click.option("--compound", help="The one compound a compound user or a viewer sees.")
@click.pass_context
def serve_user_add(ctx: click.Context, name: str, password: str, role: str | None,
                   compound: str | None) -> None:
    """Add a dashboard user, or reset their password."""
    try:
        admin.add_user(_engine(ctx), name, password, role=role, compound=compound)
    except admin.AdminError as exc:
        fail(str(exc))
    click.echo(f"user {name} can sign in to the dashboard")


@serve.command("roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--compound", default="default", show_default=True,
              help="The compound whose kiosks get this roster.")
@click.pass_context
def serve_roster(ctx: click.Context, file: Path, compound: str) -> None:
    """Publish a roster CSV (same format as ``kiosk residents import``) to the compound's
    kiosks; all or nothing."""
    try:
        good, bad = load_roster(file)
    except RosterError as exc:
        fail(str(exc))
    if bad:
        for line, reason in bad:
            click.echo(f"line {line}: {reason}", err=True)
        fail(f"{len(bad)} rows rejected; nothing published")
    changed = admin.publish_roster(_engine(ctx), good, compound)
    click.echo(f"{len(good)} rows, {changed} changed, published to {compound}")


@serve.command("revoke")
@click.argument("number")
@click.option("--reason", default="", help="Shown at the kiosks and on the dashboard.")
@click.pass_context
def serve_revoke(ctx: click.Context, number: str, reason: str) -> None:
    """Revoke a pass at every kiosk."""
    admin.publish_revocation(_engine(ctx), number, reason)
    click.echo(f"{number.upper()} revoked")


@serve.command("trust")
@click.argument("key_id")
@click.argument("public_key_hex")
@click.pass_context
def serve_trust(ctx: click.Context, key_id: str, public_key_hex: str) -> None:
    """Publish an office's public pass key to every kiosk."""
    try:
        admin.publish_pass_key(_engine(ctx), key_id, public_key_hex)
    except ValueError as exc:
        fail(str(exc))
    click.echo(f"key {key_id.upper()} published")


@serve.command("volunteer")
@click.argument("name")
@click.option("--pin", prompt=True, hide_input=True, confirmation_prompt=True,
              help="7 to 8 digits, not repeated or consecutive (prompted); only its "
                   "argon2id hash is stored and sent.")
@click.option("--role", type=click.Choice(["volunteer", "admin"]), default="volunteer",
              show_default=True, help="An admin may change settings at the kiosk.")
@click.option("--compound", default="default", show_default=True,
              help="The compound whose kiosks get this volunteer.")
@click.option("--withdraw", is_flag=True, help="The volunteer may no longer sign in.")
@click.pass_context
def serve_volunteer(ctx: click.Context, name: str, pin: str, role: str, compound: str,
                    withdraw: bool) -> None:
    """Register a volunteer at every kiosk of the compound."""
    try:
        admin.publish_volunteer(_engine(ctx), name, pin, role, compound, active=not withdraw)
    except admin.AdminError as exc:
        fail(str(exc))
    click.echo(f"{name} {'withdrawn' if withdraw else 'registered'} at {compound}")


@serve.command("policy")
@click.argument("key", type=click.Choice(admin.POLICY_KEYS))
@click.argument("value")
@click.pass_context
def serve_policy(ctx: click.Context, key: str, value: str) -> None:
    """Set a rule for every kiosk, e.g. ``kiosk serve policy quota.days 3``."""
    try:
        admin.publish_policy(_engine(ctx), key, value)
    except admin.AdminError as exc:
        fail(str(exc))
    click.echo(f"{key} = {value}")


@serve.group("rules")
def serve_rules() -> None:
    """The command's versioned rule sets (signed; sent to every kiosk)."""


@serve_rules.command("publish")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The command's private key (PEM, as made by kiosk passes "
              "keygen; password in $KIOSK_KEY_PASSWORD if it has one). It signs here and "
              "never goes to the store.")
@click.option("--key-id", required=True, help="Its id, published with kiosk serve trust.")
@click.option("--effective", required=True, help="When it takes effect, in the command's "
              "zone (--timezone): 2026-12-01T08:00.")
@click.option("--timezone", "zone", envvar=TZ_ENV, default=DEFAULT_ZONE, show_default=True,
              help="IANA zone of --effective when it has no offset.")
@click.option("--fever", type=float, default=DEFAULT_FEVER_THRESHOLD_C, show_default=True,
              help="Fever threshold, °C.")
@click.option("--offset", type=float, default=0.0, show_default=True,
              help="Forehead offset added to readings, °C.")
@click.option("--quota", default="1/2", show_default=True,
              help="N/M: N outings per household in M days (0/1: no quota).")
@click.option("--hours", multiple=True, metavar="KIND=HH:MM-HH:MM",
              help="Hours a pass kind may pass, e.g. supplier=06:00-20:00 (repeatable).")
@click.option("--admit", multiple=True, metavar="GATE=KIND,KIND",
              help="The kinds a gate admits, e.g. 北门=resident,worker (repeatable; a gate "
                   "not named admits every kind).")
@click.pass_context
def serve_rules_publish(ctx: click.Context, key: Path, key_id: str, effective: str,
                        zone: str, fever: float, offset: float, quota: str,
                        hours: tuple[str, ...], admit: tuple[str, ...]) -> None:
    """Sign the next version of the rules and send it to every kiosk. Every rule is given
    (a version is a whole rule set, not a change)."""
    from kiosk.core import rules as core
    from kiosk.core.passcode import private_key_from_pem
    from kiosk.server import rules

    engine = _engine(ctx)
    try:
        when = datetime.fromisoformat(effective)
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone_named(zone))
        n, m = (int(p) for p in quota.split("/"))
        windows = {}
        for h in hours:
            kind, _, text = h.partition("=")
            windows[core.kind_named(kind, "--hours")] = core.window(text)
        kinds = {}
        for a in admit:
            gate, _, names = a.partition("=")
            kinds[gate] = frozenset(core.kind_named(k, f"--admit {gate}")
                                    for k in names.split(",") if k)
        body = core.RuleSet(
            rules.next_version(engine), when.astimezone(UTC).replace(tzinfo=None),
            fever, offset, n, m, windows, kinds).body()
        core.parse(body)  # every rule within its limits
    except (ValueError, BadZone) as exc:
        fail(str(exc))
    password = os.environ.get("KIOSK_KEY_PASSWORD")
    try:
        private = private_key_from_pem(key.read_bytes(), password.encode() if password else None)
    except (OSError, ValueError, TypeError) as exc:
        fail(f"cannot read the private key {key}: {exc}")
    try:
        version = rules.publish(engine, core.sign(core.parse(body), private, key_id.upper()))
    except rules.RulesRefused as exc:
        fail(f"refused: {exc}")
    click.echo(f"rules version {version} published, in effect from {when.isoformat()}")


@serve_rules.command("list")
@click.pass_context
def serve_rules_list(ctx: click.Context) -> None:
    """Every version published, newest first."""
    from kiosk.server import rules

    for p in rules.published(_engine(ctx)):
        r = p.rules
        click.echo(f"v{p.version}  from {p.effective_utc.isoformat()} UTC  fever "
                   f"{r.fever_threshold_c} offset {r.forehead_offset_c} quota "
                   f"{r.quota_outings}/{r.quota_days}  by {p.published_by}")


@serve.command("export")
@_DB_OPTION
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]),
              help="Local date to export, YYYY-MM-DD (default: yesterday).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the files (created if absent).")
@click.option("--lang", type=click.Choice(LANGUAGES), default="zh", show_default=True,
              help="Language of the header rows.")
@click.option("--unmasked", is_flag=True,
              help="Full names and numbers: only for the command's own copy.")
@click.option("--user", "for_user",
              help="Export for this dashboard user: their compound only, masked for a viewer.")
@click.option("--compound", help="Only this compound's checkpoints (label: its name).")
@click.pass_context
def serve_export(ctx: click.Context, db_url: str | None, day: datetime | None, out: Path,
                 lang: str, unmasked: bool, for_user: str | None,
                 compound: str | None) -> None:
    """Write the nightly report of every checkpoint together (label "district"), or of one
    compound's: the same files as ``kiosk export`` (docs/EXPORT.md)."""
    from kiosk.export.nightly import ExportError
    from kiosk.server.export import DISTRICT, export_central
    from kiosk.server.roles import ScopeRefused, export_scope, staff_named
    from kiosk.store.audit import cli_actor

    if db_url:
        ctx.meta["serve_db"] = db_url
    d = day.date() if day else command_today() - timedelta(days=1)
    actor = cli_actor()
    if for_user is not None:
        staff = staff_named(_engine(ctx), for_user)
        if staff is None:
            fail(f"no dashboard user {for_user!r} (kiosk serve user add)")
        actor = f"{actor} for {staff.name}"
        try:
            compound, mask = export_scope(staff, compound, unmasked)
        except ScopeRefused as exc:
            from kiosk.server import audit
            audit.record(_engine(ctx), actor, audit.EXPORT, {
                "date": d.isoformat(), "compound": compound, "unmasked": unmasked,
                "refused": True})
            fail(str(exc))
        unmasked = not mask
    if unmasked:
        click.secho("unmasked export: full names and numbers; this is written to the audit "
                    "log", fg="yellow", err=True)
    try:
        result = export_central(_engine(ctx), d, out, lang=lang, mask=not unmasked,
                                actor=actor, compound=compound,
                                label=compound or DISTRICT)
    except ExportError as exc:
        fail(str(exc))
    click.echo(f"{d}: {result.events} events -> {result.directory}")
    for f in result.files:
        click.echo(f"  {f.path.name}\t{f.rows} rows\tsha256 {f.sha256}")


@serve.command("audit")
@click.option("--limit", default=50, show_default=True, help="At most this many entries.")
@click.option("--action", help="Only this action (sign_in, sign_in_failed, view_dashboard, "
                               "export, export_unmasked, publish, enrol, purge, verify, ...).")
@click.pass_context
def serve_audit(ctx: click.Context, limit: int, action: str | None) -> None:
    """The central store's audit log, newest first: time (in the command's zone, with its
    offset), actor, action, address, detail."""
    from kiosk.server.audit import entries
    from kiosk.server.clock import command_zone, in_zone

    zone = command_zone()
    for e in entries(_engine(ctx), action=action, limit=limit):
        click.echo(f"{in_zone(e.at, zone):%Y-%m-%d %H:%M:%S%z}\t{e.actor}\t{e.action}\t"
                   f"{e.client or '-'}\t{e.detail}")


@serve.command("verify")
@click.pass_context
def serve_verify(ctx: click.Context) -> None:
    """Re-verify every stored event against the kiosks' hash chains and signatures; exits 1
    when an event was altered or deleted in the central store (also shown on the
    dashboard). Events from before a kiosk had its key are counted as unsigned: the chain
    alone vouches for them."""
    from kiosk.server.verify import verify_all

    checks = verify_all(_engine(ctx))
    for c in checks:
        state = "intact" if not c.problems else f"{len(c.problems)} problems"
        unsigned = f"; {c.unsigned} unsigned (before keys)" if c.unsigned else ""
        click.echo(f"{c.checkpoint}\t{c.device_id}\t{c.events} events\t{state}{unsigned}")
        for kind, seq, _eid, what in c.problems:
            click.echo(f"  {kind} seq {seq}: {what}")
    if any(c.problems for c in checks):
        fail("the central store does not hold what the kiosks recorded (see above)")


@serve.group("retention")
def serve_retention() -> None:
    """Wipe personal data of old events on the central store (records and counts stay)."""


@serve_retention.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=28, show_default=True,
              help="Keep personal data this many days (the kiosks' privacy.retention_days).")
@click.option("--dry-run", is_flag=True, help="Only say what would be wiped.")
@click.pass_context
def serve_retention_purge(ctx: click.Context, days: int, dry_run: bool) -> None:
    """Freeze each old day's counts, then wipe names, numbers and visitor details of its
    events (run nightly, after the export)."""
    from kiosk.server.retention import purge

    report = purge(_engine(ctx), days, dry_run=dry_run)
    span = f"{report.days[0]} .. {report.days[-1]}" if report.days else "no day"
    verb = "would wipe" if dry_run else "wiped"
    click.echo(f"{verb} personal data of {report.events} events ({span}; before "
               f"{report.cutoff}, keeping {days} days)")


@serve.group("hub")
def serve_hub() -> None:
    """This machine as its compound's hub: its link to the district."""


@serve_hub.command("enrol")
@click.argument("code")
@click.option("--url", required=True, help="The district's central store, https://...")
@click.option("--insecure-http", is_flag=True,
              help="Allow plain http:// to another machine (only on a network you trust).")
@click.pass_context
def serve_hub_enrol(ctx: click.Context, code: str, url: str, insecure_http: bool) -> None:
    """Enrol this hub with the district with a code from ``kiosk serve enrol --hub``."""
    import uuid

    from kiosk.server import hub
    from kiosk.sync.client import SyncError, plain_http_to_remote

    if plain_http_to_remote(url) and not insecure_http:
        fail(f"refusing plain HTTP to {url}: the hub's secret would be sent in clear. Use "
             "https://, or add --insecure-http on a network you trust")
    obj: Context = ctx.obj
    engine = _engine(ctx)
    old = hub.read_link(engine, obj.data_dir)
    try:
        link = hub.enrol_hub(engine, obj.data_dir, code, url,
                             old.device_id if old else str(uuid.uuid4()))
    except (SyncError, hub.HubError) as exc:
        fail(f"enrolment failed: {exc}")
    click.echo(f"hub of {link.compound} enrolled at {link.url}")


@serve_hub.command("status")
@click.pass_context
def serve_hub_status(ctx: click.Context) -> None:
    """The hub's link: the district, the last relay, the backlog."""
    from kiosk.server import hub

    obj: Context = ctx.obj
    engine = _engine(ctx)
    link = hub.read_link(engine, obj.data_dir)
    if link is None:
        fail("this hub is not enrolled: kiosk serve hub enrol CODE --url DISTRICT")
    view = hub.uplink(engine, "", link.compound)
    click.echo(f"district:      {view['district_url']} "
               f"({'reachable' if view['district_ok'] else 'NOT reachable'})")
    click.echo(f"last relay:    {view['district_last_success'] or 'never'}")
    if view["district_last_error"]:
        click.echo(f"last error:    {view['district_last_error']}")
    click.echo(f"to relay:      {view['relay_pending']} events")
    click.echo(f"relayed:       {view['relay_recent']} events in the last "
               f"{hub.RELAY_KEEP_S / 60:.0f} min")
    if view["relay_refused"]:
        click.echo(f"refused:       {view['relay_refused']} events (kiosk serve hub quarantine)")
    for g in view["gates"]:
        click.echo(f"gate {g['checkpoint']}: last contact {g['last_contact'] or 'never'}")


@serve_hub.command("quarantine")
@click.option("--requeue", is_flag=True, help="Send them again (the cause fixed at the district).")
@click.pass_context
def serve_hub_quarantine(ctx: click.Context, requeue: bool) -> None:
    """Gates' events the district refused through this hub: kept here, never dropped."""
    from kiosk.server import hub

    for r in hub.relay_quarantine(_engine(ctx), requeue):
        click.echo(f"{r.device_id} seq {r.seq}  {r.event_id}  {r.last_error}")
    if requeue:
        click.echo("put back in the relay queue")
