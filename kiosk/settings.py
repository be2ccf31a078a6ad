"""Kiosk settings: one TOML file in the data directory, so each kiosk (and each test) carries
its own. Unknown keys and wrong types are refused with a message naming the key, because a
typo in a fever threshold must not pass silently."""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

from kiosk.core.event import FEVER_THRESHOLD_RANGE_C, FOREHEAD_OFFSET_RANGE_C
from kiosk.core.policy import DEFAULT_FEVER_THRESHOLD_C, Policy

SETTINGS_FILE = "settings.toml"
LOCK_FILE = ".settings.lock"
DIRECTION_MODES = ("both", "in", "out")


class CourierSurname(StrEnum):
    """Whether a delivery's form asks the courier's surname (``checkpoint.courier_surname``)."""

    #: the form opens on the phone: the mobile number is what contact tracing calls; a
    #: courier who gives no surname is recorded as 快递员
    SKIP = "skip"
    #: the surname first (王师傅), then the phone
    ASK = "ask"


COURIER_SURNAME_MODES = tuple(m.value for m in CourierSurname)
LANGUAGES = ("zh", "en")


class SettingsError(Exception):
    pass


@dataclass
class CheckpointSettings:
    id: str = "gate-1"
    name: str = "1号门"
    #: "both": the volunteer toggles IN/OUT; "in" or "out": a one-way gate
    direction_mode: str = "both"
    #: "skip" or "ask" (CourierSurname): a team may want every courier's surname
    courier_surname: str = CourierSurname.SKIP.value


@dataclass
class ScreeningSettings:
    fever_threshold_c: float = DEFAULT_FEVER_THRESHOLD_C
    forehead_offset_c: float = 0.0
    reading_max_age_s: float = 3.0


@dataclass
class QuotaSettings:
    #: outings per household within ``days`` calendar days; 0 switches the quota off
    outings: int = 1
    days: int = 2


@dataclass
class ThermometerSettings:
    port: str = ""
    protocol: str = "gy-mcu90614"
    baud: int = 9600


@dataclass
class CameraSettings:
    index: int = 0


@dataclass
class SyncSettings:
    url: str = ""
    #: the compound's hub on the LAN: "" none, a URL, or "auto" (found by mDNS); synced
    #: with every few seconds while it answers, the district (``url``) otherwise
    hub: str = ""
    #: believe a hub found by mDNS that speaks plain HTTP (a closed LAN you trust only: the
    #: device's credential travels with every request)
    lan_http: bool = False
    #: hours after which the roster, revocations and keys the gate holds are shown as old
    #: (a warning in the status bar; the gate keeps working)
    data_max_age_h: int = 24


#: where removable media (USB sticks) are mounted, as glob patterns of mount points
DEFAULT_USB_ROOTS = ("/media/*/*", "/run/media/*/*")


@dataclass
class ExportSettings:
    #: local time (HH:MM) at which the app exports the day; missed nights are caught up
    time: str = "22:00"
    #: language of the CSV header rows (values are codes; reason texts come in both)
    header_language: str = "zh"
    #: mask phone/pass numbers and names in exports; false only for the command's own copy
    mask_personal: bool = True
    #: the nightly files are also copied to every mounted medium matching these patterns
    usb_roots: list[str] = field(default_factory=lambda: list(DEFAULT_USB_ROOTS))
    #: output directory; empty means <data dir>/exports
    out_dir: str = ""


@dataclass
class PrivacySettings:
    #: personal fields of gate events older than this many days are wiped (counts stay)
    retention_days: int = 28


@dataclass
class UiSettings:
    language: str = "zh"
    #: the panel's visible width in millimetres (0: known from its resolution, see
    #: kiosk.ui.panel); touch targets are sized from it (15 mm each, 1.5 mm apart)
    panel_width_mm: float = 0.0


#: longest text of a fever setting (one line on the escalation screen at 800x480)
FEVER_TEXT_MAX = 40


@dataclass
class FeverSettings:
    """What the escalation screen tells the volunteer to do about a confirmed fever."""

    #: the team leader to call (name), and the phone number to call
    leader_name: str = ""
    leader_phone: str = ""
    #: where the person waits, e.g. the temporary observation point (临时观察点, 3号楼东侧)
    observation_point: str = ""


@dataclass
class DeviceSettings:
    #: this kiosk's identity in every event it records; made once, never changed
    id: str = ""
    #: flag events recorded while the OS says the clock is not synchronised
    require_clock_sync: bool = True


@dataclass
class Settings:
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    screening: ScreeningSettings = field(default_factory=ScreeningSettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    thermometer: ThermometerSettings = field(default_factory=ThermometerSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    ui: UiSettings = field(default_factory=UiSettings)
    fever: FeverSettings = field(default_factory=FeverSettings)
    device: DeviceSettings = field(default_factory=DeviceSettings)

    def policy(self) -> Policy:
        return Policy(
            fever_threshold_c=self.screening.fever_threshold_c,
            forehead_offset_c=self.screening.forehead_offset_c,
            reading_max_age_s=self.screening.reading_max_age_s,
            quota_outings=self.quota.outings,
            quota_days=self.quota.days,
        )

    def validate(self) -> None:
        if self.checkpoint.direction_mode not in DIRECTION_MODES:
            raise SettingsError(f"checkpoint.direction_mode must be one of {DIRECTION_MODES}")
        if self.checkpoint.courier_surname not in COURIER_SURNAME_MODES:
            raise SettingsError(
                f"checkpoint.courier_surname must be one of {COURIER_SURNAME_MODES}")
        if self.ui.language not in LANGUAGES:
            raise SettingsError(f"ui.language must be one of {LANGUAGES}")
        if not 0 <= self.ui.panel_width_mm <= 2000:
            raise SettingsError("ui.panel_width_mm must be between 0 (known panel) and 2000")
        # the ranges the gate event records and the central store accepts (one definition)
        low, high = FEVER_THRESHOLD_RANGE_C
        if not low <= self.screening.fever_threshold_c <= high:
            raise SettingsError(
                f"screening.fever_threshold_c must be between {low} and {high} °C")
        low, high = FOREHEAD_OFFSET_RANGE_C
        if not low <= self.screening.forehead_offset_c <= high:
            raise SettingsError(
                f"screening.forehead_offset_c must be between {low} and {high} °C")
        if self.quota.outings < 0 or self.quota.days < 1:
            raise SettingsError("quota.outings must be >= 0 and quota.days >= 1")
        try:
            time.fromisoformat(self.export.time)
        except ValueError as exc:
            raise SettingsError("export.time must be HH:MM, e.g. 22:00") from exc
        if self.export.header_language not in LANGUAGES:
            raise SettingsError(f"export.header_language must be one of {LANGUAGES}")
        if not 1 <= self.privacy.retention_days <= 3650:
            raise SettingsError("privacy.retention_days must be between 1 and 3650")
        for key in ("leader_name", "leader_phone", "observation_point"):
            if len(getattr(self.fever, key)) > FEVER_TEXT_MAX:
                raise SettingsError(f"fever.{key} is at most {FEVER_TEXT_MAX} characters")
        if not 1 <= self.sync.data_max_age_h <= 24 * 365:
            raise SettingsError("sync.data_max_age_h must be between 1 and 8760 hours")


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("checkpoint-kiosk", appauthor=False))


def resolve_data_dir(option: str | os.PathLike[str] | None) -> Path:
    """--data-dir, else $KIOSK_DATA_DIR, else the platform's user data directory."""
    if option:
        return Path(option).expanduser().resolve()
    env = os.environ.get("KIOSK_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


def _coerce(section: str, key: str, default: Any, value: Any) -> Any:
    expected = type(default)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{section}.{key} must be a list of strings, not {value!r}")
        return list(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise SettingsError(
            f"{section}.{key} must be {expected.__name__}, not {type(value).__name__} ({value!r})"
        )
    return value


def _from_dict(data: dict[str, Any]) -> Settings:
    settings = Settings()
    for name, section_data in data.items():
        section = getattr(settings, name, None)
        if section is None or not is_dataclass(section) or not isinstance(section_data, dict):
            raise SettingsError(f"unknown settings section [{name}]")
        known = {f.name for f in fields(section)}
        for key, value in section_data.items():
            if key not in known:
                raise SettingsError(f"unknown setting {name}.{key}")
            setattr(section, key, _coerce(name, key, getattr(section, key), value))
    return settings


def load(data_dir: Path) -> Settings:
    """Read the settings, creating the file with defaults and a fresh device id if absent."""
    path = data_dir / SETTINGS_FILE
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}") from exc
        settings = _from_dict(raw)
    else:
        settings = Settings()
    settings.validate()
    if not settings.device.id:
        settings.device.id = str(uuid.uuid4())
        save(data_dir, settings)
    return settings


def save(data_dir: Path, settings: Settings) -> None:
    """Write atomically (temp file + rename) so a power cut never leaves half a file. Each
    save has its own temp file: the sync thread, the app and ``kiosk config set`` may save
    at the same moment, and a reader (the running app) must still see one whole file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SETTINGS_FILE
    fd, name = tempfile.mkstemp(dir=data_dir, prefix=f".{SETTINGS_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(asdict(settings), fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600: keep the mode the settings file had (0600 if new)
        os.chmod(name, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o600)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One read-change-save at a time per data directory, across threads and processes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # flock belongs to this open file: it also keeps two threads of one process apart
    with open(data_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # released when the file closes
        yield


def update(data_dir: Path, change: Callable[[Settings], None]) -> Settings:
    """Apply ``change`` to the settings *as they are in the file now* and save them, under
    a lock: the sync writing the command's policy, an admin saving the form and ``kiosk
    config set`` never undo each other's changes. The file is rewritten only if something
    changed (the running app reloads on every write). Returns the settings."""
    with _locked(data_dir):
        settings = load(data_dir)
        before = to_toml(settings)
        change(settings)
        settings.validate()
        if to_toml(settings) != before:
            save(data_dir, settings)
        return settings


def set_value(settings: Settings, dotted: str, text: str) -> None:
    """Set ``section.key`` from command-line text, parsed as the setting's type; raises
    SettingsError, leaving ``settings`` unchanged, when the text or the result is refused."""
    section_name, _, key = dotted.partition(".")
    section = getattr(settings, section_name, None)
    if section is None or not is_dataclass(section) or key not in {f.name for f in fields(section)}:
        raise SettingsError(f"unknown setting {dotted}")
    current = getattr(section, key)
    value: Any
    if isinstance(current, bool):
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise SettingsError(f"{dotted} must be true or false")
        value = text.lower() in ("true", "yes", "1")
    elif isinstance(current, list):
        # comma-separated on the command line: "/media/*/*,/mnt/usb"
        value = [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(current, int | float):
        try:
            value = type(current)(text)
        except ValueError as exc:
            raise SettingsError(f"{dotted} must be a {type(current).__name__}") from exc
    else:
        value = text
    setattr(section, key, value)
    try:
        settings.validate()
    except SettingsError:
        # refused whole: the object keeps the value it had (a caller that goes on, such as
        # the sync skipping one rule of the command's policy, saves only what was accepted)
        setattr(section, key, current)
        raise


def to_toml(settings: Settings) -> str:
    return tomli_w.dumps(asdict(settings))
