"""``kiosk install-service``: a Raspberry Pi (or any systemd machine) becomes a gate kiosk.

What docs/RASPBERRY_PI.md does by hand, as files under a root directory (``/`` on the kiosk,
a temporary directory in tests): the system user and its groups (a sysusers.d entry applied by
``systemd-sysusers``), the udev rule giving the thermometer a stable name, the data directory
with ``KIVY_HOME`` in it, the systemd unit (full screen at boot, restart on failure, a
watchdog fed from the UI loop), journald size limits, and the screen kept on. Running it again
changes nothing; ``--uninstall`` removes what it wrote but never the data directory or the
user (the records are evidence).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "checkpoint-kiosk.service"
#: a compound hub (``kiosk install-service --hub``): the gates' store on the LAN, a unit of its
#: own so that one box can be a gate and the hub at once
HUB_UNIT_NAME = "checkpoint-hub.service"
DEFAULT_USER = "kiosk"
DEFAULT_DATA_DIR = Path("/var/lib/checkpoint-kiosk")
GROUPS = ("dialout", "video", "input", "render", "audio")  # serial, screen, touch, GPU, sound
#: systemd restarts the kiosk when the UI loop has not pinged for this long (seconds)
WATCHDOG_S = 30
#: USB-serial chips of the supported thermometers: CH340, CP210x, FTDI, PL2303
USB_SERIAL_IDS = (("1a86", "7523"), ("10c4", "ea60"), ("0403", "6001"), ("067b", "2303"))


@dataclass(frozen=True)
class Plan:
    """Everything the installer needs to know; ``files`` derives what it writes."""

    root: Path
    kiosk: Path
    data_dir: Path = DEFAULT_DATA_DIR
    user: str = DEFAULT_USER
    #: None: a gate kiosk; else a compound hub, run as ``kiosk serve --hub`` + these
    #: arguments (``--advertise --host 0.0.0.0 --ssl-certfile ...``: docs/SYNC.md)
    hub: tuple[str, ...] | None = None

    @property
    def unit_name(self) -> str:
        return UNIT_NAME if self.hub is None else HUB_UNIT_NAME

    @property
    def other_unit(self) -> str:
        """The other role's unit: while it is installed, the files both share stay."""
        return HUB_UNIT_NAME if self.hub is None else UNIT_NAME

    def path(self, absolute: str | Path) -> Path:
        return self.root / str(absolute).lstrip("/")

    def files(self) -> dict[str, str]:
        """Absolute path on the target -> content (the unit first, then shared files)."""
        return {
            f"/etc/systemd/system/{self.unit_name}":
                unit(self) if self.hub is None else hub_unit(self),
            "/etc/sysusers.d/checkpoint-kiosk.conf": sysusers(self),
            "/etc/tmpfiles.d/checkpoint-kiosk.conf": tmpfiles(self),
            "/etc/udev/rules.d/99-kiosk-thermometer.rules": udev_rule(),
            "/etc/systemd/journald.conf.d/checkpoint-kiosk.conf": JOURNALD,
        }


def unit(plan: Plan) -> str:
    data = plan.data_dir
    return f"""\
# Written by `kiosk install-service`; run it again rather than editing (docs/RASPBERRY_PI.md)
[Unit]
Description=Checkpoint Kiosk (gate registration)
After=systemd-user-sessions.service time-sync.target systemd-tmpfiles-setup.service
Conflicts=getty@tty1.service
StartLimitIntervalSec=0

[Service]
# READY=1 once the window is up, then WATCHDOG=1 from the UI loop (kiosk/sysd.py): a frozen
# screen is restarted, not only a dead process
Type=notify
NotifyAccess=main
WatchdogSec={WATCHDOG_S}
TimeoutStartSec=300
User={plan.user}
Group={plan.user}
SupplementaryGroups={" ".join(GROUPS)}
Environment=KIOSK_DATA_DIR={data}
Environment=KIVY_HOME={data}/kivy
Environment=KIVY_NO_ARGS=1
Environment=KIVY_WINDOW=sdl2
Environment=SDL_VIDEODRIVER=kmsdrm
Environment=SDL_VIDEO_ALLOW_SCREENSAVER=0
WorkingDirectory={data}
ExecStart={plan.kiosk} app
# a crash, a kill, a watchdog timeout or an out-of-memory death restarts it; "Exit kiosk" on
# the admin screen (a clean exit) leaves it stopped for maintenance
Restart=on-failure
RestartSec=2
TTYPath=/dev/tty1
StandardInput=tty-force
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


def hub_unit(plan: Plan) -> str:
    """The compound hub: no screen, so no watchdog from a UI loop; restarted whatever ended
    it (the gates of the compound agree through it)."""
    data = plan.data_dir
    args = shlex.join(["serve", "--hub", *(plan.hub or ())])
    return f"""\
# Written by `kiosk install-service --hub`; run it again rather than editing (docs/SYNC.md)
[Unit]
Description=Checkpoint Kiosk compound hub (the gates' store on the LAN, relaying to the district)
Wants=network-online.target
After=network-online.target time-sync.target systemd-tmpfiles-setup.service
StartLimitIntervalSec=0

[Service]
Type=exec
User={plan.user}
Group={plan.user}
Environment=KIOSK_DATA_DIR={data}
WorkingDirectory={data}
ExecStart={plan.kiosk} {args}
Restart=always
RestartSec=2
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


def sysusers(plan: Plan) -> str:
    lines = [
        "# Written by `kiosk install-service`: the kiosk's system user and its groups",
        f'u {plan.user} - "Checkpoint Kiosk" {plan.data_dir} /usr/sbin/nologin',
    ]
    lines += [f"m {plan.user} {group}" for group in GROUPS]
    return "\n".join(lines) + "\n"


def tmpfiles(plan: Plan) -> str:
    data = plan.data_dir
    return (
        "# Written by `kiosk install-service`: the data directory (KIVY_HOME inside it), and\n"
        "# the text console never blanks the screen (the kernel's consoleblank)\n"
        f"d {data} 0750 {plan.user} {plan.user} -\n"
        f"d {data}/kivy 0750 {plan.user} {plan.user} -\n"
        "w /sys/module/kernel/parameters/consoleblank - - - - 0\n"
    )


def udev_rule() -> str:
    lines = ["# Written by `kiosk install-service`: the thermometer's USB-serial adapter is "
             "/dev/kiosk-thermometer", "# whatever the plug order (docs/RASPBERRY_PI.md step 5)"]
    lines += [f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}", '
              'SYMLINK+="kiosk-thermometer", GROUP="dialout", MODE="0660"'
              for vendor, product in USB_SERIAL_IDS]
    return "\n".join(lines) + "\n"


JOURNALD = """\
# Written by `kiosk install-service`: the journal never fills the SD card
[Journal]
SystemMaxUse=64M
SystemKeepFree=256M
RuntimeMaxUse=32M
MaxRetentionSec=1month
"""


@dataclass
class Report:
    written: list[str]
    unchanged: list[str]
    removed: list[str]
    ran: list[str]


Runner = Callable[[list[str]], None]
CalledProcessError = subprocess.CalledProcessError


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, timeout=120)


def _live(plan: Plan) -> bool:
    """Whether the target is this running system (so systemd and udev are told)."""
    return plan.root.resolve() == Path("/") and Path("/run/systemd/system").is_dir()


def install(plan: Plan, run: Runner = _run) -> Report:
    report = Report([], [], [], [])
    for target, content in plan.files().items():
        path = plan.path(target)
        if path.is_file() and path.read_text(encoding="utf-8") == content:
            report.unchanged.append(target)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)
        report.written.append(target)
    root = str(plan.root.resolve())
    sysusers_conf = str(plan.path("/etc/sysusers.d/checkpoint-kiosk.conf").resolve())
    steps = [["systemd-sysusers", f"--root={root}", sysusers_conf]]
    if _live(plan):
        steps += [["systemd-tmpfiles", "--create", "/etc/tmpfiles.d/checkpoint-kiosk.conf"],
                  ["udevadm", "control", "--reload"], ["udevadm", "trigger"],
                  ["systemctl", "restart", "systemd-journald"],
                  ["systemctl", "daemon-reload"], ["systemctl", "enable", plan.unit_name]]
    else:  # an image or a test root: files only, enabled offline
        steps += [["systemctl", f"--root={root}", "enable", plan.unit_name]]
    for step in steps:
        run(step)
        report.ran.append(" ".join(step))
    if not _live(plan):
        _make_data_dirs(plan)
    return report


def _make_data_dirs(plan: Plan) -> None:
    """What systemd-tmpfiles does at boot, done now for a root that is not running."""
    owner = _owner(plan)
    for d in (plan.data_dir, plan.data_dir / "kivy"):
        path = plan.path(d)
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o750)
        if owner is not None and os.geteuid() == 0:
            os.chown(path, *owner)


def _owner(plan: Plan) -> tuple[int, int] | None:
    passwd = plan.path("/etc/passwd")
    if plan.root.resolve() == Path("/"):
        try:
            entry = pwd.getpwnam(plan.user)
        except KeyError:
            return None
        return entry.pw_uid, entry.pw_gid
    if not passwd.is_file():
        return None
    for line in passwd.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == plan.user and len(fields) > 3:
            return int(fields[2]), int(fields[3])
    return None


def uninstall(plan: Plan, run: Runner = _run) -> Report:
    report = Report([], [], [], [])
    root = str(plan.root.resolve())
    if _live(plan):
        steps = [["systemctl", "disable", "--now", plan.unit_name]]
    else:
        steps = [["systemctl", f"--root={root}", "disable", plan.unit_name]]
    if plan.path(f"/etc/systemd/system/{plan.unit_name}").exists():
        for step in steps:
            run(step)
            report.ran.append(" ".join(step))
    targets = list(plan.files())
    if plan.path(f"/etc/systemd/system/{plan.other_unit}").exists():
        targets = targets[:1]  # the other role still needs the user, the limits, the rule
    for target in targets:
        path = plan.path(target)
        if path.exists():
            path.unlink()
            report.removed.append(target)
    if _live(plan):
        for step in (["systemctl", "daemon-reload"], ["udevadm", "control", "--reload"],
                     ["systemctl", "restart", "systemd-journald"]):
            run(step)
            report.ran.append(" ".join(step))
    return report


def missing_tools() -> list[str]:
    return [t for t in ("systemctl", "systemd-sysusers") if shutil.which(t) is None]
