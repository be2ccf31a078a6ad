"""Volunteer sign-in (and the admin PIN) on a PIN pad; sign-out opens the handover."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiosk.core.model import Role
from kiosk.store import lite
from kiosk.store import volunteers as vol
from kiosk.ui.vm.base import Debouncer, Observable, Runner

if TYPE_CHECKING:
    from kiosk.store.lite import Source

MAX_PIN = 8


@dataclass(frozen=True, slots=True)
class Duty:
    """The volunteer on duty and their open shift."""

    volunteer: vol.VolunteerInfo
    shift_id: int
    started_utc: datetime


def local_hhmm(utc_naive: datetime) -> str:
    return utc_naive.replace(tzinfo=UTC).astimezone().strftime("%H:%M")


class SignInModel(Observable):
    """``mode`` VOLUNTEER: pick a name, type the PIN, a shift starts. ``mode`` ADMIN: the
    PIN of any admin opens the settings (lockout per name applies to both)."""

    def __init__(self, db: Source, runner: Runner, checkpoint: str, *,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.db = db
        self.runner = runner
        self.checkpoint = checkpoint
        self.debounce = Debouncer(clock=clock) if clock else Debouncer()
        self.names: list[str] = []
        self.admins: list[str] = []
        self.selected: str | None = None
        self.pin = ""
        self.mode = Role.VOLUNTEER
        self.checking = False
        self.message: tuple[str, dict[str, Any]] | None = None
        self.duty: Duty | None = None
        self.admin_ok = False

    def load(self) -> None:
        def work() -> list[vol.VolunteerInfo]:
            return vol.list_volunteers(self.db)

        def done(people: list[vol.VolunteerInfo]) -> None:
            self.names = [p.name for p in people]
            self.admins = [p.name for p in people if p.role is Role.ADMIN]
            self.message = None if people else ("no_volunteers", {})
            self.notify()

        self.runner.submit(work, done, lambda exc: None)

    def select(self, name: str) -> None:
        self.selected, self.pin, self.message = name, "", None
        self.notify()

    def set_mode(self, mode: Role) -> None:
        self.mode, self.pin, self.message, self.admin_ok = mode, "", None, False
        self.notify()

    def key(self, key: str) -> None:
        """A PIN pad key; a doubled event within the debounce window is dropped."""
        if self.checking or not self.debounce.accept(f"pin:{key}"):
            return
        if key == "←":
            self.pin = self.pin[:-1]
        elif key == "C":
            self.pin = ""
        elif key.isdigit() and len(self.pin) < MAX_PIN:
            self.pin += key
        self.notify()

    def submit(self) -> None:
        if self.checking or not self.debounce.accept("submit", 0.5):
            return
        if not 4 <= len(self.pin) <= MAX_PIN:
            self.message = ("pin_short", {})
            self.notify()
            return
        if self.mode is Role.ADMIN:
            self._check_admin(self.pin)
            return
        if self.selected is None:
            self.message = ("choose_volunteer", {})
            self.notify()
            return
        name, pin = self.selected, self.pin
        self.checking, self.pin, self.message = True, "", ("checking", {})
        self.notify()

        def work() -> tuple[vol.SignIn, Duty | None]:
            result = vol.sign_in(self.db, name, pin)
            if result.volunteer is None:
                return result, None
            now = lite.utc_now()
            shift = vol.start_shift(self.db, result.volunteer.id, self.checkpoint, now)
            return result, Duty(result.volunteer, shift, now)

        self.runner.submit(work, self._signed_in, self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.checking = False
        self.message = ("record_failed", {"error": str(exc)})
        self.notify()

    def _refusal(self, result: vol.SignIn) -> tuple[str, dict[str, Any]]:
        if result.locked_until is not None:
            return "pin_locked", {"until": local_hhmm(result.locked_until)}
        return "pin_wrong", {"left": result.attempts_left}

    def _signed_in(self, answer: tuple[vol.SignIn, Duty | None]) -> None:
        result, duty = answer
        self.checking = False
        if duty is None:
            self.message = self._refusal(result)
        else:
            self.duty, self.message, self.selected = duty, None, None
        self.notify()

    def _check_admin(self, pin: str) -> None:
        admins = list(self.admins)
        self.checking, self.pin, self.message = True, "", ("checking", {})
        self.notify()

        def work() -> vol.SignIn | None:
            last = None
            for name in admins:
                last = vol.sign_in(self.db, name, pin)
                if last.volunteer is not None:
                    return last
            return last

        def done(result: vol.SignIn | None) -> None:
            self.checking = False
            if result is not None and result.volunteer is not None:
                self.admin_ok, self.message = True, None
            else:
                self.message = ("not_admin", {}) if result is None or (
                    result.locked_until is None) else self._refusal(result)
            self.notify()

        self.runner.submit(work, done, self._failed)

    def sign_out(self) -> None:
        duty = self.duty
        if duty is None:
            return
        self.duty = None
        self.notify()
        self.runner.submit(lambda: vol.end_shift(self.db, duty.shift_id),
                           lambda _end: None, self._failed)
