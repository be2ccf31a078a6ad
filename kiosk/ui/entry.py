"""Entry point of the PyInstaller build (``dist/kiosk/kiosk``): the ``kiosk`` command, with
``--self-test`` meaning ``self-test`` and no arguments meaning ``app`` (full screen), so the
systemd unit and a quick check need no sub-command spelling."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    args = sys.argv[1:]
    args = ["self-test" if a == "--self-test" else a for a in args]
    if not args:
        args = ["app"]
    from kiosk.cli import main as cli

    cli(args=args, prog_name="kiosk")


if __name__ == "__main__":
    main()
