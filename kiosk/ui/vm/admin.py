"""The admin screen's form: every field is text, parsed and validated by
``kiosk.settings.set_value`` (the same rules as ``kiosk config set``) before anything is
saved. Writing the file, restarting the devices (which waits for their threads) and the
thermometer probe run in the worker, so the screen answers while they work.

The kiosk has a touchscreen and no keyboard: a tap on a field opens its pad (``Pad``): a
number pad for numbers and times, a pinyin keyboard for Chinese text (the checkpoint's
name, the team leader, the observation point: letters, then a character from the candidate
row, ``kiosk.ui.vm.pinyin``), with digits and Latin letters a key away, a Latin keyboard for
ports and addresses, chips for a fixed choice. A USB keyboard types into the field being
edited (``type_text``). A key that would make a text longer than its field holds is refused
in words, and the text stays as it was. Errors are catalogue keys with fields, never an
exception's English text."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from kiosk import settings as settings_mod
from kiosk.settings import (
    COURIER_SURNAME_MODES,
    DIRECTION_MODES,
    FEVER_TEXT_MAX,
    LANGUAGES,
    Settings,
    SettingsError,
)
from kiosk.ui.vm.base import Debouncer, Observable, Runner
from kiosk.ui.vm.pinyin import PinyinInput

log = logging.getLogger(__name__)

#: thermometer protocols the drivers know (drivers/registry.py PROTOCOLS, without importing
#: pyserial into the view model; a test keeps the two equal)
PROTOCOLS = ("gy-mcu90614", "modbus-rtu", "text-lines", "aa55")


class Pad(StrEnum):
    """What a field is typed on."""

    NUMBER = "number"  # digits . - : (thresholds, counts, the export time)
    TEXT = "text"  # a Latin keyboard with digits and / . : - _ (port, address)
    CHINESE = "chinese"  # pinyin and a candidate row; digits and Latin letters a key away
    CHOICE = "choice"  # one chip per allowed value


@dataclass(frozen=True, slots=True)
class Field:
    """One setting on the form: its dotted name, its label and its rule (catalogue keys),
    its pad, and for a choice the values."""

    name: str
    label: str
    pad: Pad
    rule: str = ""
    choices: tuple[str, ...] = ()
    #: the longest text the field takes from the pads (characters)
    max_len: int = 120


NAME_MAX = 40
#: in screen order
FIELDS: tuple[Field, ...] = (
    # one line of the status bar
    Field("checkpoint.name", "a_checkpoint", Pad.CHINESE, max_len=NAME_MAX),
    Field("checkpoint.direction_mode", "a_direction", Pad.CHOICE, choices=DIRECTION_MODES),
    Field("screening.fever_threshold_c", "a_threshold", Pad.NUMBER, "a_rule_threshold"),
    Field("screening.forehead_offset_c", "a_offset", Pad.NUMBER, "a_rule_offset"),
    Field("quota.outings", "a_quota_outings", Pad.NUMBER, "a_rule_outings"),
    Field("quota.days", "a_quota_days", Pad.NUMBER, "a_rule_days"),
    # change with the duty roster: the fever screen shows them
    Field("fever.leader_name", "a_leader_name", Pad.CHINESE, "a_rule_text",
          max_len=FEVER_TEXT_MAX),
    Field("fever.leader_phone", "a_leader_phone", Pad.NUMBER, "a_rule_phone",
          max_len=FEVER_TEXT_MAX),
    Field("fever.observation_point", "a_observation", Pad.CHINESE, "a_rule_text",
          max_len=FEVER_TEXT_MAX),
    Field("thermometer.port", "a_port", Pad.TEXT),
    Field("thermometer.protocol", "a_protocol", Pad.CHOICE, choices=PROTOCOLS),
    Field("thermometer.baud", "a_baud", Pad.NUMBER, "a_rule_whole"),
    Field("camera.index", "a_camera", Pad.NUMBER, "a_rule_camera"),
    Field("sync.url", "a_sync", Pad.TEXT),
    Field("export.time", "a_export", Pad.NUMBER, "a_rule_time"),
    # a team's choice made once: near the end, so the rows above keep their pages
    Field("checkpoint.courier_surname", "a_courier_surname", Pad.CHOICE,
          choices=COURIER_SURNAME_MODES),
    Field("ui.language", "a_language", Pad.CHOICE, choices=LANGUAGES),
)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# keys of the pads (the screen shows the control keys as translated words)
BACK, CLEAR, DONE, SHIFT, SPACE, TO_DIGITS, TO_LETTERS = "←", "CLR", "OK", "⇧", "␣", "123", "abc"
TO_PINYIN, MORE = "中", "▶"
#: 4 x 4
NUMBER_KEYS = ("1", "2", "3", BACK, "4", "5", "6", CLEAR, "7", "8", "9", "-",
               ".", "0", ":", DONE)
#: 9 x 4: every key over 15 mm at 800x480
LETTER_KEYS = (*"abcdefghijklmnopqrstuvwxyz", SHIFT, SPACE, ".", "/", ":", "-", CLEAR,
               TO_DIGITS, BACK, DONE)
SYMBOL_KEYS = (*"1234567890", ".", "/", ":", "-", "_", "@", "?", "=", "&", "%", "#", "~",
               "+", ",", SPACE, TO_LETTERS, CLEAR, BACK, DONE)
#: a Chinese text's digits and signs: the name's dot (阿依古丽·买买提), brackets, and the
#: way back to pinyin
CHINESE_SYMBOL_KEYS = (*SYMBOL_KEYS[:-5], "·", "（", "）", "、", SPACE, TO_LETTERS, TO_PINYIN,
                       CLEAR, BACK, DONE)
#: the pinyin keyboard: 26 letters and the way to digits, 9 x 3 (landscape); above them the
#: candidate row: the characters of a page, then more, backspace and done
PINYIN_KEYS = (*"abcdefghijklmnopqrstuvwxyz", TO_DIGITS)
CANDIDATE_CONTROLS = (MORE, BACK, DONE)


def get_value(settings: Settings, dotted: str) -> str:
    section, _, key = dotted.partition(".")
    return str(getattr(getattr(settings, section), key))


class AdminModel(Observable):
    def __init__(self, data_dir: Path, settings: Settings, runner: Runner,
                 on_saved: Callable[[Settings], None],
                 apply: Callable[[Settings], None] = lambda _s: None,
                 probe: Callable[[str], Any] | None = None) -> None:
        """``apply`` runs in the worker after the file is written (restart the devices);
        ``on_saved`` then runs on the UI thread (gate policy, names, language). ``probe``
        (in the worker) asks a port which thermometer answers; the app's pauses its own
        reader meanwhile, which holds the port exclusively."""
        super().__init__()
        self.data_dir = data_dir
        self.runner = runner
        self.on_saved = on_saved
        self.apply = apply
        self.probe_port = probe or _probe
        self.debounce = Debouncer()
        self.values: dict[str, str] = {}
        self.message: tuple[str, dict[str, Any]] | None = None
        #: the message is a problem (shown in warning colours), not progress
        self.error = False
        self.probing = False
        self.saving = False
        #: the field whose pad is open, or None (the form)
        self.editing: str | None = None
        self.symbols = False
        self.upper = False
        #: a Chinese field on the Latin keyboard (``abc``) rather than pinyin
        self.latin = False
        #: the pinyin being typed and its candidates (made when a Chinese field opens)
        self.ime: PinyinInput | None = None
        #: 退出程序 was tapped once: the screen asks before the kiosk stops
        self.exit_asked = False
        self.reset(settings)

    def reset(self, settings: Settings) -> None:
        self.settings = settings
        self.values = {f.name: get_value(settings, f.name) for f in FIELDS}
        self.message, self.error = None, False
        self.editing, self.exit_asked = None, False
        self.notify()

    def rebase(self, settings: Settings) -> None:
        """The settings changed underneath (the sync downloaded a policy): fields the admin
        has not edited show the new values, edited ones keep the admin's text, and a save
        starts from the new settings, so it does not put the old policy back."""
        old, self.settings = self.settings, settings
        for f in FIELDS:
            if self.values[f.name] == get_value(old, f.name):
                self.values[f.name] = get_value(settings, f.name)
        self.notify()

    def set(self, name: str, text: str) -> None:
        self.values[name] = text

    def _say(self, key: str | None, error: bool = False, **fields: Any) -> None:
        self.message = None if key is None else (key, fields)
        self.error = error

    # -- the pads ------------------------------------------------------------------------

    @property
    def pad(self) -> str:
        """What the screen shows: "form", or the open field's pad ("number", "pinyin",
        "letters", "symbols", "choice")."""
        if self.editing is None:
            return "form"
        kind = BY_NAME[self.editing].pad
        if kind is Pad.CHINESE:
            return "symbols" if self.symbols else "letters" if self.latin else "pinyin"
        if kind is Pad.TEXT:
            return "symbols" if self.symbols else "letters"
        return kind.value

    @property
    def letters(self) -> str:
        """The pinyin typed and not yet turned into a character."""
        return self.ime.letters if self.ime is not None else ""

    def candidates(self) -> str:
        """The characters of the candidate row's page ("" with no pinyin typed)."""
        return self.ime.shown() if self.ime is not None and self.pad == "pinyin" else ""

    def candidate_page(self) -> tuple[int, int]:
        """(page shown, pages), from 1."""
        return (self.ime.page + 1, self.ime.pages) if self.ime is not None else (1, 1)

    def set_candidates_per_page(self, n: int) -> None:
        """As many as the panel's candidate row holds."""
        if self.ime is not None and self.ime.per_page != n:
            self.ime.per_page, self.ime.page = n, 0

    def edit(self, name: str) -> None:
        """A tap on a field: its pad opens (numbers-only fields get the number pad)."""
        self.editing, self.exit_asked = name, False
        self.symbols, self.upper, self.latin = False, False, False
        if BY_NAME[name].pad is Pad.CHINESE and self.ime is None:
            self.ime = PinyinInput()
        if self.ime is not None:
            self.ime.clear()
        self._say(None)
        self.notify()

    def done(self) -> None:
        self._commit_letters()
        self.editing = None
        self.notify()

    def key(self, key: str) -> None:
        """A key of the open pad."""
        name = self.editing
        if name is None or not self.debounce.accept(f"{self.pad}:{key}"):
            return
        self._say(None)
        text = self.values[name]
        pinyin = self.pad == "pinyin" and self.ime is not None
        if key == DONE:
            self._commit_letters()
            self.editing = None
        elif key == BACK:
            if not (pinyin and self.ime is not None and self.ime.backspace()):
                self.values[name] = text[:-1]
        elif key == CLEAR:
            self.values[name] = ""
        elif key == SHIFT:
            self.upper = not self.upper
        elif key in (TO_DIGITS, TO_LETTERS, TO_PINYIN):
            self._commit_letters()
            self.symbols, self.latin = key == TO_DIGITS, key == TO_LETTERS
        elif key == MORE:
            if self.ime is not None:
                self.ime.next_page()
        elif pinyin and self.ime is not None and key.isascii() and key.isalpha():
            self.ime.type(key)
        else:
            typed = " " if key == SPACE else key.upper() if self.upper else key
            self._append(name, typed)
        self.notify()

    def pick(self, char: str) -> None:
        """A character of the candidate row: into the field; the pinyin after its syllable
        stays to go on with ("beijing": 北, then jing's candidates)."""
        if self.editing is None or self.ime is None or \
                not self.debounce.accept(f"pick:{char}"):
            return
        self._say(None)
        if char in self.ime.shown() and self._fits(self.editing, char):
            self.values[self.editing] += self.ime.pick(char)
        self.notify()

    def _commit_letters(self) -> None:
        """Pinyin left unpicked goes into the field as the letters typed: nothing typed is
        lost, and the field shows what will be saved."""
        if self.ime is not None and self.ime.letters and self.editing is not None:
            if self._fits(self.editing, self.ime.letters):
                self.values[self.editing] += self.ime.letters
            self.ime.clear()

    def _fits(self, name: str, typed: str) -> bool:
        """True if ``typed`` still fits the field; else it is refused in words."""
        f = BY_NAME[name]
        if len(self.values[name]) + len(typed) <= f.max_len:
            return True
        self._say("a_too_long", error=True, field=f.label, max=f.max_len)
        return False

    def _append(self, name: str, typed: str) -> None:
        if self._fits(name, typed):
            self.values[name] += typed

    def choose(self, value: str) -> None:
        """A chip of a choice field: set, and back to the form."""
        if self.editing is not None and value in BY_NAME[self.editing].choices:
            self.values[self.editing] = value
            self.editing = None
            self.notify()

    def type_text(self, text: str) -> None:
        """A USB keyboard (or its input method: Chinese names) into the open field."""
        if self.editing is not None and BY_NAME[self.editing].pad is not Pad.CHOICE:
            self._say(None)
            self._append(self.editing, "".join(c for c in text if c.isprintable()))
            self.notify()

    def backspace(self) -> None:
        if self.editing is not None:
            if not (self.pad == "pinyin" and self.ime is not None and self.ime.backspace()):
                self.values[self.editing] = self.values[self.editing][:-1]
            self.notify()

    # -- leaving -------------------------------------------------------------------------

    def ask_exit(self) -> None:
        """The first tap on 退出程序 only asks: the kiosk stops on the confirmation."""
        self._commit_letters()
        self.exit_asked, self.editing = True, None
        self.notify()

    def keep_running(self) -> None:
        self.exit_asked = False
        self.notify()

    # -- saving and probing --------------------------------------------------------------

    def save(self) -> bool:
        """Check every field here (fast), then save and apply in the worker; False if a
        field is wrong or a save is already running (a doubled tap on Save)."""
        if self.saving:
            return False
        self._commit_letters()
        self.editing = None
        new = copy.deepcopy(self.settings)
        edited = {f.name: self.values[f.name].strip() for f in FIELDS
                  if self.values[f.name] != get_value(new, f.name)}
        for name, text in edited.items():
            try:
                settings_mod.set_value(new, name, text)
            except SettingsError:
                f = BY_NAME[name]
                self._say("a_invalid", error=True, field=f.label, rule=f.rule, value=text)
                self.notify()
                return False
        self.saving = True
        self._say("a_saving")
        self.notify()

        def apply_form(current: Settings) -> None:
            for name, text in edited.items():
                settings_mod.set_value(current, name, text)

        def work() -> tuple[Settings, bool]:
            # only the fields the admin changed, onto the file as it is now (a policy the
            # sync wrote since the form opened stays)
            saved = settings_mod.update(self.data_dir, apply_form)
            try:
                self.apply(saved)
            except Exception:  # noqa: BLE001 - saved anyway: said on the screen
                log.exception("restarting the devices failed")
                return saved, False
            return saved, True

        def done(outcome: tuple[Settings, bool]) -> None:
            saved, devices_ok = outcome
            self.saving, self.settings = False, saved
            if devices_ok:
                self._say("a_saved")
            else:
                self._say("a_saved_device_failed", error=True)
            self.notify()
            self.on_saved(saved)

        def failed(exc: BaseException) -> None:
            log.error("saving the settings failed: %s", exc)
            self.saving = False
            self._say("a_save_failed", error=True)
            self.notify()

        self.runner.submit(work, done, failed)
        return True

    def probe(self) -> None:
        port = self.values["thermometer.port"].strip()
        if self.probing:
            return
        if not port:
            self._say("a_probe_no_port", error=True)
            self.notify()
            return
        self.probing, self.editing = True, None
        self._say("a_probing")
        self.notify()

        def done(found: Any) -> None:
            self.probing = False
            if found is None:
                self._say("a_probe_none", error=True, port=port)
            else:
                self.values["thermometer.protocol"] = found.protocol
                self.values["thermometer.baud"] = str(found.baud)
                self._say("a_probe_found", protocol=found.protocol, baud=found.baud)
            self.notify()

        def failed(exc: BaseException) -> None:
            log.error("probing %s failed: %s", port, exc)
            self.probing = False
            self._say("a_probe_failed", error=True, port=port)
            self.notify()

        self.runner.submit(lambda: self.probe_port(port), done, failed)


def _probe(port: str) -> Any:
    from drivers.probe import probe

    return probe(port, listen_s=1.5)
