"""The visitor / delivery form: checked here, then handed to the gate flow for the
temperature step, exactly like a pass holder."""

from __future__ import annotations

from typing import Any

from kiosk.core.model import Direction
from kiosk.store.events import Visitor
from kiosk.ui.vm.base import Observable

REASON_KEYS = ("r_delivery", "r_groceries", "r_repair", "r_visit")


class VisitorForm(Observable):
    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        self.name = ""
        self.phone = ""
        self.reason = ""
        self.host_building = ""
        self.direction = Direction.IN
        self.message: tuple[str, dict[str, Any]] | None = None

    def visitor(self) -> Visitor | None:
        """The visitor to register, or None with ``message`` saying what is missing."""
        name, phone = self.name.strip(), self.phone.strip().replace(" ", "")
        if not name:
            self.message = ("v_need_name", {})
        elif phone and not phone.lstrip("+").isdigit():
            self.message = ("v_bad_phone", {})
        else:
            self.message = None
            return Visitor(name=name[:100], phone=phone[:30], reason=self.reason.strip()[:200],
                           host_building=self.host_building.strip()[:20])
        self.notify()
        return None
