"""``python -m kiosk`` is the same as the ``kiosk`` command."""

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")  # Kivy must never parse the kiosk's arguments

from kiosk.cli import main  # noqa: E402

main()
