"""What the operating system knows about its clock (Linux), for the clock-trust rule."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import time
import uuid
from functools import lru_cache

from kiosk.core.clock import ClockSample

TIME_ERROR = 5  # adjtimex(2): clock not synchronised


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """Loaded once: find_library runs ldconfig in a subprocess."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def os_clock_synced() -> bool | None:
    """True/False from the kernel's NTP state (set by systemd-timesyncd, chrony, ntpd);
    None where the OS cannot tell. Cheap (one syscall): asked at every event."""
    libc = _libc()
    if libc is None:
        return None
    try:
        buf = ctypes.create_string_buffer(512)  # struct timex, zeroed: modes=0 reads only
        state = int(libc.adjtimex(buf))
    except AttributeError:
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


@lru_cache(maxsize=1)
def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return f"process-{uuid.uuid4()}"  # no boot id: monotonic comparisons per process


def sample() -> ClockSample:
    return ClockSample(wall_s=time.time(), monotonic_s=time.monotonic(), boot_id=boot_id())
