"""One module + one .kv file per screen; ``load_kv`` reads a screen's .kv beside it."""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder


def load_kv(module_file: str) -> None:
    Builder.load_file(str(Path(module_file).with_suffix(".kv")))
