"""``kiosk sync``: enrol with the central store, sync now, show the status and quarantine
(a thin click layer over kiosk.sync)."""

from __future__ import annotations

import json
import time

import click
from sqlalchemy import select, update

from kiosk import settings as settings_mod
from kiosk.clibase import Context, fail, pass_ctx
from kiosk.core.clock import clock_is_off, offset_text
from kiosk.store.devicekey import ensure_key
from kiosk.store.events import first_signed_seq
from kiosk.store.models import OutboxRow as OB
from kiosk.sync import state
from kiosk.sync.client import SyncClient, SyncError, plain_http_to_remote
from kiosk.sync.loop import start_background_sync
from kiosk.sync.route import Route
from kiosk.sync.runner import Syncer, SyncReport


def make_syncer(ctx: Context) -> Syncer | Route:
    """The Syncer of this kiosk (through its hub when one is set: kiosk.sync.route), or a
    clear error when it is not set up for sync."""
    url = ctx.settings.sync.url
    secret = state.read_secret(ctx.data_dir)
    if not (url or ctx.settings.sync.hub) or secret is None:
        fail("this kiosk is not enrolled: ask the command for a code, then "
             "kiosk sync enrol CODE --url URL")
    if ctx.settings.sync.hub:
        route = Route(ctx.store.engine, ctx.data_dir, ctx.settings.device.id, secret, url,
                      ctx.settings.sync.hub, lan_http=ctx.settings.sync.lan_http)
        ctx.closers.append(route.close)
        return route
    client = SyncClient(url, secret)
    ctx.closers.append(client.close)
    return Syncer(ctx.store.engine, ctx.data_dir, ctx.settings.device.id, client)


def _print_report(report: SyncReport) -> None:
    pulled = ", ".join(f"{k} {v}" for k, v in report.pulled.items() if v) or "nothing new"
    click.echo(f"sent {report.sent} events ({report.duplicates} already there, "
               f"{report.quarantined} quarantined); received: {pulled}")
    if report.missing:
        click.secho(f"the server lacks sequence numbers {report.missing}", fg="yellow")


@click.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="Sync now (push, then pull) and exit.")
@click.option("--forever", is_flag=True,
              help="Keep syncing in the foreground (what the app does in the background).")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between syncs.")
@click.pass_context
def sync(ctx: click.Context, once: bool, forever: bool, interval: float) -> None:
    """Exchange records with the command's central store."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    if once:
        try:
            _print_report(make_syncer(obj).run())
        except SyncError as exc:
            fail(f"sync failed: {exc}")
        return
    if forever:
        def show(report: SyncReport | None, error: Exception | None) -> None:
            if report is not None:
                _print_report(report)
            else:
                click.secho(f"sync failed: {error}", fg="red", err=True)

        loop = start_background_sync(obj.store.engine, obj.data_dir, obj.settings,
                                     interval_s=interval, on_result=show)
        if loop is None:
            make_syncer(obj)  # fails with the explanation
            return
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            loop.stop()
        return
    click.echo(ctx.get_help())


@sync.command("enrol")
@click.argument("code")
@click.option("--url", required=True, help="The central store, e.g. https://command.example/")
@click.option("--insecure-http", is_flag=True,
              help="Allow a plain http:// URL to another machine (the secret and every "
                   "record then cross the network in clear): only on a network you trust.")
@pass_ctx
def sync_enrol(ctx: Context, code: str, url: str, insecure_http: bool) -> None:
    """Enrol this kiosk with a one-time code from ``kiosk serve enrol``."""
    if plain_http_to_remote(url) and not insecure_http:
        fail(f"refusing plain HTTP to {url}: the device secret would be sent in clear. "
             "Use https://, or add --insecure-http on a network you trust (docs/SYNC.md)")
    settings = ctx.settings
    # the kiosk's signing key is made here (kept in the data directory, never sent) and
    # its public half registered with the enrolment: events from then on are signed
    key = ensure_key(ctx.data_dir)
    from_seq = first_signed_seq(ctx.store.engine, settings.device.id)
    try:
        with SyncClient(url) as client:
            answer = client.enrol(code, settings.device.id, key.public_hex, from_seq)
    except SyncError as exc:
        fail(f"enrolment failed: {exc}")
    state.write_secret(ctx.data_dir, answer["secret"])
    settings_mod.update(ctx.data_dir, lambda s: setattr(s.sync, "url", url))
    state.record(ctx.store.engine, **{state.COMPOUND: answer["compound"],
                                      state.CHECKPOINT: answer["checkpoint"],
                                      state.DEVICE_KEY: key.public_hex})
    click.echo(f"enrolled as {answer['checkpoint']} ({answer['compound']}) at {url}")


@sync.command("hub")
@click.argument("where")
@click.option("--lan-http", is_flag=True,
              help="With auto: believe a hub announcing plain HTTP (a closed LAN you trust).")
@pass_ctx
def sync_hub(ctx: Context, where: str, lan_http: bool) -> None:
    """Sync with the compound's hub: WHERE is its URL, ``auto`` (found on the LAN by
    mDNS) or ``off``. The district (sync.url) stays the way out when the hub is down."""
    hub = "" if where == "off" else where
    if hub not in ("", "auto") and plain_http_to_remote(hub) and not lan_http:
        fail(f"refusing plain HTTP to {hub}: add --lan-http on a LAN you trust, or use https")

    def change(s: settings_mod.Settings) -> None:
        s.sync.hub = hub
        s.sync.lan_http = lan_http

    settings_mod.update(ctx.data_dir, change)
    click.echo(f"hub: {hub or 'none'}")


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (for scripts and the app).")
@pass_ctx
def sync_status(ctx: Context, as_json: bool) -> None:
    """Pending and quarantined events, last success, last error."""
    st = state.status(ctx.store.engine, ctx.data_dir, ctx.settings.sync.url)
    if as_json:
        click.echo(json.dumps(st.as_json(), ensure_ascii=False))
        return
    click.echo(f"server:       {st.url or '(none)'}{'' if st.enrolled else ' (not enrolled)'}")
    click.echo(f"pending:      {st.pending}")
    click.echo(f"quarantined:  {st.quarantined}")
    click.echo(f"last success: {state.shown(st.last_success) or 'never'}")
    click.echo(f"last error:   {st.last_error or '-'}"
               + (f" ({state.shown(st.last_error_at)})" if st.last_error else ""))
    if st.clock_offset_s is not None:
        off = clock_is_off(st.clock_offset_s)
        against = "the central store"
        if st.uplink and st.uplink.get("hub"):  # measured through the hub
            against = ("the district, through the hub" if st.uplink.get(
                "district_clock_offset_s") is not None else "the compound hub only (it "
                "has never reached the district: its own clock may be off)")
        click.echo(f"clock:        {'WRONG: ' if off else 'ok, '}"
                   f"{offset_text(st.clock_offset_s)} against {against}"
                   + (" (set the time: the gates compare movements by it)" if off else ""))
    if st.enrolled:  # the command's data is expected only from an enrolled kiosk
        age = st.data_age_s()
        old = age is None or age > ctx.settings.sync.data_max_age_h * 3600
        click.echo(f"data:         {'OLD: ' if old else ''}roster, revocations and keys "
                   + ("never received from the command" if age is None
                      else f"from {state.shown(st.data_as_of)} ({age / 3600:.0f} h ago)"))
    if st.server_missing:
        click.echo(f"server lacks: {st.server_missing}")
    if st.via:
        click.echo(f"synced with:  {st.via}" + (" (compound hub)" if st.uplink else ""))
    if st.uplink:
        ok = "reachable" if st.uplink.get("district_ok") else "NOT reachable"
        click.echo(f"district:     {ok} through the hub (last relay "
                   f"{st.uplink.get('district_last_success') or 'never'}, "
                   f"{st.uplink.get('relay_pending', 0)} to relay)")
        for g in st.uplink.get("gates", []):
            click.echo(f"gate {g['checkpoint']}: heard by the hub {g['last_contact'] or 'never'}")


@sync.command("quarantine")
@click.option("--requeue", "requeue", type=int, multiple=True, metavar="SEQ",
              help="Put a quarantined event back in the queue (after the cause is fixed).")
@pass_ctx
def sync_quarantine(ctx: Context, requeue: tuple[int, ...]) -> None:
    """Events the server refused: kept here, never deleted, shown until dealt with."""
    engine = ctx.store.engine
    if requeue:
        with engine.begin() as conn:
            conn.execute(update(OB).where(OB.c.seq.in_(requeue)).values(quarantined=False))
    with engine.connect() as conn:
        rows = conn.execute(select(OB).where(OB.c.quarantined.is_(True)).order_by(OB.c.seq))
        for r in rows:
            click.echo(f"seq {r.seq}  {r.event_id}  attempts {r.attempts}  {r.last_error}")
