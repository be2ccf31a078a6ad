"""``kiosk passes``: office keys, signed QR passes, printable cards, and the revocation list.

The issuing office keeps the private key (``keygen``) and runs ``issue``/``print``; every kiosk
only ``trust``s the public key, so a kiosk that is stolen cannot make passes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import select

from kiosk.clibase import Context, fail, pass_ctx
from kiosk.core.model import Pass
from kiosk.core.passcode import (
    PassFields,
    encode_pass,
    generate_key_pair,
    private_key_from_pem,
    private_key_to_pem,
    public_key_to_hex,
)
from kiosk.store.models import PassKeyRow, PassRow, ResidentRow, table_of
from kiosk.store.roster import find_pass


@click.group()
def passes() -> None:
    """Signed QR passes: keys, issuing, printing, revocation."""


@passes.command()
@click.argument("key_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the PRIVATE key (PEM). Keep it at the office only.")
def keygen(key_id: str, out: Path) -> None:
    """Make a new office signing key (for key rotation, make a new one with a new KEY_ID)."""
    if out.exists():
        fail(f"{out} exists; refusing to overwrite a key")
    private, public = generate_key_pair()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_key_to_pem(private))
    hexkey = public_key_to_hex(public)
    click.echo(f"private key written to {out} (mode 600)")
    click.echo(f"public key {key_id.upper()}: {hexkey}")
    click.echo(f"on each kiosk: kiosk passes trust {key_id.upper()} {hexkey}")


@passes.command()
@click.argument("key_id")
@click.argument("public_key_hex")
@pass_ctx
def trust(ctx: Context, key_id: str, public_key_hex: str) -> None:
    """Trust an office's public key (64 hex characters) for verifying QR passes."""
    from kiosk.store.passkeys import trust_key

    try:
        trust_key(ctx.store.engine, key_id, public_key_hex)
    except ValueError as exc:
        fail(f"not an Ed25519 public key: {exc}")
    click.echo(f"key {key_id.upper()} trusted")


@passes.command()
@click.argument("key_id")
@pass_ctx
def retire(ctx: Context, key_id: str) -> None:
    """Stop accepting passes signed with this key."""
    from kiosk.store.passkeys import retire_key

    if not retire_key(ctx.store.engine, key_id):
        fail(f"no key {key_id.upper()}")
    click.echo(f"key {key_id.upper()} retired")


@passes.command("keys")
@pass_ctx
def keys_list(ctx: Context) -> None:
    """List the office keys this kiosk knows."""
    k = table_of(PassKeyRow)
    with ctx.store.engine.connect() as conn:
        for row in conn.execute(select(k).order_by(k.c.added_at)):
            state = "active" if row.active else "retired"
            click.echo(f"{row.key_id}\t{state}\t{row.public_key_hex}")


@passes.command()
@click.argument("number")
@click.option("--reason", default="", help="Why (shown to the admin, kept in the record).")
@pass_ctx
def revoke(ctx: Context, number: str, reason: str) -> None:
    """Revoke a pass: refused at this gate from the next scan on."""
    from kiosk.store.passkeys import revoke as do_revoke

    do_revoke(ctx.store.engine, number, reason)
    click.echo(f"{number.upper()} revoked")


@passes.command()
@pass_ctx
def revocations(ctx: Context) -> None:
    """List revoked pass numbers (when: in the kiosk's zone, with its offset)."""
    from kiosk.store.lite import local_time
    from kiosk.store.passkeys import revocations as listing

    for number, when, reason, source in listing(ctx.store.engine):
        click.echo(f"{number}\t{local_time(when):%Y-%m-%d %H:%M%z}\t{source}\t{reason}")


def _selected(ctx: Context, numbers: tuple[str, ...], building: str | None) -> list[Pass]:
    with ctx.store.engine.connect() as conn:
        if building:
            p, r = table_of(PassRow), table_of(ResidentRow)
            numbers = tuple(conn.execute(
                select(p.c.number).select_from(p.join(r, p.c.resident_id == r.c.id))
                .where(r.c.building == building).order_by(r.c.unit, r.c.room, p.c.number)
            ).scalars())
        out = []
        for n in numbers:
            found = find_pass(conn, n)
            if found is None:
                fail(f"pass {n.upper()} is not on the roster")
            out.append(found.gate_pass)
    if not out:
        fail("no passes selected: give pass numbers or --building")
    return out


def _sign(passes_: list[Pass], key: Path, key_id: str) -> list[str]:
    password = os.environ.get("KIOSK_KEY_PASSWORD")
    try:
        private = private_key_from_pem(key.read_bytes(),
                                       password.encode() if password else None)
    except (OSError, ValueError, TypeError) as exc:
        fail(f"cannot read the private key {key}: {exc}")
    return [encode_pass(PassFields(p.number, p.kind, p.valid_from, p.valid_to), private,
                        key_id.upper()) for p in passes_]


_key_options = [
    click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 required=True, help="The office private key (PEM; password in "
                 "$KIOSK_KEY_PASSWORD if it has one)."),
    click.option("--key-id", required=True, help="The key's id, as given to keygen."),
    click.option("--building", help="All passes of this building."),
]


F = TypeVar("F", bound=Callable[..., Any])


def key_options(f: F) -> F:
    """The options every signing command shares."""
    for option in reversed(_key_options):
        f = option(f)
    return f


@passes.command()
@click.argument("numbers", nargs=-1)
@key_options
@pass_ctx
def issue(ctx: Context, numbers: tuple[str, ...], key: Path, key_id: str,
          building: str | None) -> None:
    """Print the signed QR payload of each pass: NUMBER<TAB>PAYLOAD."""
    chosen = _selected(ctx, numbers, building)
    for p, payload in zip(chosen, _sign(chosen, key, key_id), strict=True):
        click.echo(f"{p.number}\t{payload}")


@passes.command("print")
@click.argument("numbers", nargs=-1)
@key_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="FILE.pdf (A4 sheets, 8 cards a page) or FILE.png (one sheet, up to 8).")
@pass_ctx
def print_cards(ctx: Context, numbers: tuple[str, ...], key: Path, key_id: str,
                building: str | None, out: Path) -> None:
    """Printable pass cards; every QR is read back by the kiosk's own reader first, and
    nothing is written if one cannot be read."""
    from kiosk.qr.cards import CardFontError, CardQRError, PassCard, render_cards

    if out.suffix.lower() not in (".pdf", ".png"):
        fail("--out must end in .pdf or .png")
    chosen = _selected(ctx, numbers, building)
    payloads = _sign(chosen, key, key_id)
    cards = []
    for p, payload in zip(chosen, payloads, strict=True):
        try:
            cards.append(PassCard.for_pass(p, payload))
        except ValueError as exc:
            fail(str(exc))
    try:
        with click.progressbar(length=1, label=f"rendering {len(cards)} cards",
                               file=sys.stderr) as bar:
            render_cards(cards, out)
            bar.update(1)
    except (CardFontError, CardQRError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"{len(cards)} pass cards written to {out} ({date.today():%Y-%m-%d})")
