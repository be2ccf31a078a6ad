"""``kiosk qr ...``: QR commands for the office and for checking a camera or a print run.

A thin shell over kiosk.qr.decode; the main CLI attaches the ``qr`` group.
"""

from __future__ import annotations

from pathlib import Path

import click

from kiosk.qr.decode import UnreadableImageError, decode_file

#: Payloads may hold line breaks or tabs (vCards, other systems' passes); escape them so one
#: image is always one output line and a tab always separates two payloads.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def one_line(payload: str) -> str:
    """Escape backslash, tab, CR, LF and other control characters (as \\xNN)."""
    escaped = payload.translate(_ESCAPES)
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in escaped)


@click.group(name="qr")
def qr() -> None:
    """Read QR codes from images."""


@qr.command(name="decode")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def decode_command(ctx: click.Context, images: tuple[Path, ...]) -> None:
    """Print what each IMAGE holds, one line per image in the order given.

    Several codes in one image are separated by a tab; an image with no code, or one that
    cannot be read, gives an empty line (so line N is always image N). Unreadable files are
    reported on stderr and make the exit status 1 once every image has been tried.
    """
    failed = False
    for path in images:
        try:
            payloads = decode_file(path)
        except OSError as exc:
            click.echo(f"kiosk qr decode: cannot read {path}: {exc.strerror or exc}", err=True)
            payloads, failed = [], True
        except UnreadableImageError as exc:
            click.echo(f"kiosk qr decode: cannot read {exc}", err=True)
            payloads, failed = [], True
        click.echo("\t".join(one_line(p) for p in payloads))
    if failed:
        ctx.exit(1)
