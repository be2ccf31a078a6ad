"""The app's screens: one module + one .kv file each (``load_kv`` reads a screen's .kv beside
it), and ``SCREENS``, the one list the app builds them from. A new screen is its module, its
.kv and one entry here; how it behaves while a person is at the gate is said by its flags.
Importing this package loads no Kivy (the self-test and the view-model tests read it)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def load_kv(module_file: str) -> None:
    from kivy.lang import Builder

    Builder.load_file(str(Path(module_file).with_suffix(".kv")))


@dataclass(frozen=True, slots=True)
class ScreenEntry:
    """One screen: its name (``app.go(name)``), where its class is (``module:Class``, in
    this package), and what the app does with it."""

    name: str
    where: str
    #: the app attribute whose view model the screen binds to (``bind_model``), if any
    model: str | None = None
    #: a side trip from the gate (visitor, lists): not opened while a person is decided
    side_trip: bool = False
    #: a decision that arrives while it is shown replaces it with the result screen
    yields_to_result: bool = False
    #: a scan (camera or USB scanner) goes to the gate flow while it is shown
    takes_scans: bool = False

    @property
    def module(self) -> str:
        return f"{__name__}.{self.where.split(':')[0]}"

    @property
    def kv_file(self) -> Path:
        return Path(__file__).with_name(self.where.split(":")[0] + ".kv")

    def load(self) -> Any:
        """The screen's class (imports the module, which loads its .kv: Kivy must be
        configured first)."""
        return getattr(importlib.import_module(self.module), self.where.split(":")[1])


#: every screen, the first one shown first
SCREENS: tuple[ScreenEntry, ...] = (
    ScreenEntry("signin", "signin:SignInScreen", model="signin"),
    ScreenEntry("gate", "gate:GateScreen", model="flow", yields_to_result=True,
                takes_scans=True),
    ScreenEntry("result", "result:ResultScreen", model="flow", takes_scans=True),
    ScreenEntry("visitor", "visitor:VisitorScreen", model="visitor_form", side_trip=True,
                yields_to_result=True),
    ScreenEntry("whoisout", "whoisout:WhoIsOutScreen", side_trip=True,
                yields_to_result=True),
    ScreenEntry("handover", "handover:HandoverScreen", side_trip=True),
    ScreenEntry("admin", "admin:AdminScreen", model="admin"),
)

BY_NAME: dict[str, ScreenEntry] = {s.name: s for s in SCREENS}
