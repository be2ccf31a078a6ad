"""The people and papers a gate deals with, as plain immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class PassKind(StrEnum):
    """Kinds of entry/exit pass (出入证明) issued during the lockdown."""

    RESIDENT = "resident"  # 居民
    WORKER = "worker"  # essential worker, e.g. railway freight staff (必要岗位)
    SUPPLIER = "supplier"  # supplier / delivery (保供/配送)
    STAFF = "staff"  # property and community staff, volunteers (工作人员)
    VISITOR = "visitor"  # one-off visitor (访客)


#: the name a delivery is recorded with when the courier gives none (the mobile number is
#: what identifies a courier; kiosk.ui.vm.visitor): a word that names nobody, so it is
#: never masked (kiosk.core.privacy.NAME)
COURIER_NAME = "快递员"


class Role(StrEnum):
    VOLUNTEER = "volunteer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Resident:
    name: str
    building: str
    unit: str
    room: str
    household: str
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Pass:
    """A pass as the gate sees it. ``valid_to`` is inclusive (valid through that day)."""

    number: str
    kind: PassKind
    valid_from: date
    valid_to: date
    revoked: bool = False
    holder: Resident | None = None

    @property
    def household(self) -> str | None:
        return self.holder.household if self.holder and self.holder.household else None


@dataclass(frozen=True, slots=True)
class Volunteer:
    name: str
    role: Role = Role.VOLUNTEER


@dataclass(frozen=True, slots=True)
class Checkpoint:
    code: str  # short id, used in file names and event records, e.g. "north-gate"
    name: str  # shown on screen, e.g. "北苑小区北门"
