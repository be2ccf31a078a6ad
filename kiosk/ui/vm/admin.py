"""The admin screen's form: every field is text, parsed and validated by
``kiosk.settings.set_value`` (the same rules as ``kiosk config set``) before anything is
saved. Writing the file, restarting the devices (which waits for their threads) and the
thermometer probe run in the worker, so the screen answers while they work."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk import settings as settings_mod
from kiosk.settings import Settings, SettingsError
from kiosk.ui.vm.base import Observable, Runner

log = logging.getLogger(__name__)

#: (setting, label key) in screen order
FIELDS: tuple[tuple[str, str], ...] = (
    ("checkpoint.name", "a_checkpoint"),
    ("checkpoint.direction_mode", "a_direction"),
    ("screening.fever_threshold_c", "a_threshold"),
    ("screening.forehead_offset_c", "a_offset"),
    ("quota.outings", "a_quota_outings"),
    ("quota.days", "a_quota_days"),
    ("thermometer.port", "a_port"),
    ("thermometer.protocol", "a_protocol"),
    ("thermometer.baud", "a_baud"),
    ("camera.index", "a_camera"),
    ("sync.url", "a_sync"),
    ("export.time", "a_export"),
    ("ui.language", "a_language"),
)


def get_value(settings: Settings, dotted: str) -> str:
    section, _, key = dotted.partition(".")
    return str(getattr(getattr(settings, section), key))


class AdminModel(Observable):
    def __init__(self, data_dir: Path, settings: Settings, runner: Runner,
                 on_saved: Callable[[Settings], None],
                 apply: Callable[[Settings], None] = lambda _s: None) -> None:
        """``apply`` runs in the worker after the file is written (restart the devices);
        ``on_saved`` then runs on the UI thread (gate policy, names, language)."""
        super().__init__()
        self.data_dir = data_dir
        self.runner = runner
        self.on_saved = on_saved
        self.apply = apply
        self.values: dict[str, str] = {}
        self.message: tuple[str, dict[str, Any]] | None = None
        self.probing = False
        self.saving = False
        self.reset(settings)

    def reset(self, settings: Settings) -> None:
        self.settings = settings
        self.values = {name: get_value(settings, name) for name, _ in FIELDS}
        self.message = None
        self.notify()

    def rebase(self, settings: Settings) -> None:
        """The settings changed underneath (the sync downloaded a policy): fields the admin
        has not edited show the new values, edited ones keep the admin's text, and a save
        starts from the new settings, so it does not put the old policy back."""
        old, self.settings = self.settings, settings
        for name, _label in FIELDS:
            if self.values[name] == get_value(old, name):
                self.values[name] = get_value(settings, name)
        self.notify()

    def set(self, name: str, text: str) -> None:
        self.values[name] = text

    def save(self) -> bool:
        """Check every field here (fast), then save and apply in the worker; False if a
        field is wrong or a save is already running (a doubled tap on Save)."""
        if self.saving:
            return False
        new = copy.deepcopy(self.settings)
        edited = {name: self.values[name].strip() for name, _label in FIELDS
                  if self.values[name] != get_value(new, name)}
        try:
            for name, text in edited.items():
                settings_mod.set_value(new, name, text)
        except SettingsError as exc:
            self.message = ("a_invalid", {"error": str(exc)})
            self.notify()
            return False
        self.saving, self.message = True, ("a_saving", {})
        self.notify()

        def apply_form(current: Settings) -> None:
            for name, text in edited.items():
                settings_mod.set_value(current, name, text)

        def work() -> tuple[Settings, str | None]:
            # only the fields the admin changed, onto the file as it is now (a policy the
            # sync wrote since the form opened stays)
            saved = settings_mod.update(self.data_dir, apply_form)
            try:
                self.apply(saved)
            except Exception as exc:  # noqa: BLE001 - saved anyway: said on the screen
                log.exception("restarting the devices failed")
                return saved, str(exc)
            return saved, None

        def done(outcome: tuple[Settings, str | None]) -> None:
            saved, device_error = outcome
            self.saving, self.settings = False, saved
            self.message = ("a_saved", {}) if device_error is None else \
                ("a_saved_device_failed", {"error": device_error})
            self.notify()
            self.on_saved(saved)

        def failed(exc: BaseException) -> None:
            self.saving, self.message = False, ("a_save_failed", {"error": str(exc)})
            self.notify()

        self.runner.submit(work, done, failed)
        return True

    def probe(self) -> None:
        port = self.values["thermometer.port"].strip()
        if self.probing or not port:
            return
        self.probing, self.message = True, ("a_probing", {})
        self.notify()

        def work() -> Any:
            from drivers.probe import probe

            return probe(port, listen_s=1.5)

        def done(found: Any) -> None:
            self.probing = False
            if found is None:
                self.message = ("a_probe_none", {})
            else:
                self.values["thermometer.protocol"] = found.protocol
                self.values["thermometer.baud"] = str(found.baud)
                self.message = ("a_probe_found", {"protocol": found.protocol,
                                                  "baud": found.baud})
            self.notify()

        def failed(exc: BaseException) -> None:
            self.probing = False
            self.message = ("a_invalid", {"error": str(exc)})
            self.notify()

        self.runner.submit(work, done, failed)
