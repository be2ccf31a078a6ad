"""systemd's notify protocol (sd_notify), in a few lines instead of a dependency.

Under the unit that ``kiosk install-service`` writes (Type=notify, WatchdogSec=), the app says
READY=1 once its window is up and WATCHDOG=1 from the UI loop: a frozen UI (a stuck callback,
a deadlock) stops the pings and systemd restarts the kiosk, not only when the process dies.
Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any


def notify(message: str) -> bool:
    """Send one datagram to systemd; False when not started by systemd or it cannot be sent
    (a kiosk must never stop because its supervisor is away)."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":  # Linux abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval_s() -> float | None:
    """How often to ping (seconds): half of systemd's WatchdogSec, or None when systemd does
    not watch this process."""
    usec, pid = os.environ.get("WATCHDOG_USEC"), os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


def ready_and_watched(schedule_interval: Callable[[Callable[[Any], None], float], Any]) -> None:
    """READY=1 now, then WATCHDOG=1 from the caller's loop (``Clock.schedule_interval``): the
    pings stop when that loop stops running."""
    notify("READY=1")
    interval = watchdog_interval_s()
    if interval is not None:
        def ping(_dt: Any) -> None:
            notify("WATCHDOG=1")

        schedule_interval(ping, interval)
