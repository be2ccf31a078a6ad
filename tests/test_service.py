"""`kiosk install-service` run into a temporary root: the files a Pi needs, a unit systemd
accepts, a second run that changes nothing, an uninstall that keeps the records; and the
sd_notify client (kiosk/sysd.py; the app's pings: tests/ui/test_ui_watchdog.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from kiosk import service, sysd

UNIT = "etc/systemd/system/checkpoint-kiosk.service"
KIOSK = str(Path(sys.executable).parent / "kiosk")


def _install(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KIOSK, "install-service", "--root", str(root)],
                          capture_output=True, text=True, timeout=120)


def test_install_service_writes_a_gate_kiosk_into_a_root(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    r = _install(root)
    assert r.returncode == 0, r.stdout + r.stderr
    unit = (root / UNIT).read_text()
    for line in ("Type=notify", "WatchdogSec=30", "Restart=on-failure", "User=kiosk",
                 "Environment=KIVY_HOME=/var/lib/checkpoint-kiosk/kivy", f"ExecStart={KIOSK} app",
                 "SupplementaryGroups=dialout video input render audio"):
        assert line in unit.splitlines(), line
    assert (root / "etc/systemd/system/multi-user.target.wants/checkpoint-kiosk.service"
            ).is_symlink()  # starts at boot
    passwd = (root / "etc/passwd").read_text()
    assert "kiosk:x:" in passwd and ":/var/lib/checkpoint-kiosk:" in passwd
    groups = {line.split(":")[0]: line.split(":")[3]
              for line in (root / "etc/group").read_text().splitlines()}
    for group in ("dialout", "video", "input", "render"):
        assert groups[group] == "kiosk"
    rule = (root / "etc/udev/rules.d/99-kiosk-thermometer.rules").read_text()
    assert 'SYMLINK+="kiosk-thermometer"' in rule and 'ATTRS{idVendor}=="1a86"' in rule
    journald = (root / "etc/systemd/journald.conf.d/checkpoint-kiosk.conf").read_text()
    assert "SystemMaxUse=" in journald
    tmpfiles = (root / "etc/tmpfiles.d/checkpoint-kiosk.conf").read_text()
    assert "consoleblank - - - - 0" in tmpfiles  # the screen never blanks
    kivy_home = root / "var/lib/checkpoint-kiosk/kivy"
    assert kivy_home.is_dir()
    if os.geteuid() == 0:
        uid = int(passwd.split("kiosk:x:")[1].split(":")[0])
        assert kivy_home.stat().st_uid == uid

    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (scripts/bootstrap installs systemd)"
    v = subprocess.run([analyze, "verify", str(root / UNIT)], capture_output=True, text=True,
                       timeout=60)
    problems = [line for line in (v.stdout + v.stderr).splitlines()
                if "non-existent unit multi-user.target" not in line]  # not in a bare root
    assert v.returncode == 0 and not problems, problems

    # again, and the uninstall, through the library the command calls (the command costs ~3 s)
    plan = service.Plan(root=root, kiosk=Path(KIOSK))
    again = service.install(plan)
    assert again.written == [] and len(again.unchanged) == 5
    assert (root / "etc/passwd").read_text() == passwd  # no second user

    gone = service.uninstall(plan)
    assert len(gone.removed) == 5
    assert not (root / UNIT).exists()
    assert not (root / "etc/udev/rules.d/99-kiosk-thermometer.rules").exists()
    assert kivy_home.is_dir() and "kiosk:x:" in (root / "etc/passwd").read_text()


def _listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    return sock


def test_notify_speaks_to_systemds_socket_and_is_silent_without_it(tmp_path: Path,
                                                                     monkeypatch):
    sock = _listen(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    assert sysd.notify("WATCHDOG=1")
    assert sock.recv(100) == b"WATCHDOG=1"
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sysd.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # systemd watches another
    assert sysd.watchdog_interval_s() is None
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not sysd.notify("READY=1")


def test_install_service_hub_makes_a_compound_hub_beside_a_gate(tmp_path: Path):
    """`install-service --hub` (issue 14): the hub is a unit of its own that runs `kiosk
    serve --hub` with the given arguments, restarted whatever ended it, accepted by systemd;
    on a box that is also a gate, removing the hub leaves the gate's files alone."""
    root = tmp_path / "root"
    root.mkdir()
    service.install(service.Plan(root=root, kiosk=Path(KIOSK)))  # the box is a gate too
    args = "--advertise --host 0.0.0.0 --ssl-certfile '/etc/kiosk/hub cert.pem'"
    r = subprocess.run([KIOSK, "install-service", "--root", str(root), "--hub",
                        "--serve-args", args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    hub_unit = root / "etc/systemd/system/checkpoint-hub.service"
    lines = hub_unit.read_text().splitlines()
    assert (f"ExecStart={KIOSK} serve --hub --advertise --host 0.0.0.0 --ssl-certfile "
            "'/etc/kiosk/hub cert.pem'") in lines
    for line in ("Restart=always", "User=kiosk",
                 "Environment=KIOSK_DATA_DIR=/var/lib/checkpoint-kiosk"):
        assert line in lines, line
    assert "WatchdogSec" not in hub_unit.read_text()  # no UI loop to feed it
    assert (root / "etc/systemd/system/multi-user.target.wants/checkpoint-hub.service"
            ).is_symlink()
    v = subprocess.run([shutil.which("systemd-analyze") or "systemd-analyze", "verify",
                        str(hub_unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (v.stdout + v.stderr).splitlines()
                if "non-existent unit multi-user.target" not in line
                and "network-online.target" not in line]
    assert v.returncode == 0 and not problems, problems

    refused = subprocess.run([KIOSK, "install-service", "--root", str(root), "--serve-args",
                              "--advertise"], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--serve-args goes with --hub" in refused.stderr

    gone = service.uninstall(service.Plan(root=root, kiosk=Path(KIOSK), hub=()))
    assert gone.removed == ["/etc/systemd/system/checkpoint-hub.service"]
    assert (root / UNIT).is_file()  # the gate keeps its unit, user, rule and limits
    assert (root / "etc/udev/rules.d/99-kiosk-thermometer.rules").is_file()
