"""Clock trust: a Raspberry Pi has no real-time clock.

It boots with the last saved time until network time arrives, and the clock can jump when it
does. Events are never reordered or re-stamped; an event whose wall-clock time cannot be
trusted is flagged so the command reads its time with care.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ClockState(StrEnum):
    TRUSTED = "trusted"
    NOT_SYNCED = "not_synced"  # the OS says the clock has not been synchronised
    JUMPED_BACK = "jumped_back"  # wall clock is behind an earlier event of this device
    DRIFTED = "drifted"  # wall and monotonic clocks disagree since the last event this boot


@dataclass(frozen=True, slots=True)
class ClockSample:
    """Wall-clock seconds since the epoch (UTC), monotonic seconds, and the boot it came from."""

    wall_s: float
    monotonic_s: float
    boot_id: str


#: a wall-clock step bigger than this (seconds) between two events is not ordinary drift
MAX_STEP_S = 120.0


def assess_clock(
    previous: ClockSample | None, now: ClockSample, os_synced: bool | None
) -> ClockState:
    """Decide whether ``now.wall_s`` can be trusted.

    ``previous`` is the newest earlier event of this device; ``os_synced`` is the OS's word
    (None when it cannot tell, e.g. not Linux: then only the jump checks apply).
    """
    if previous is not None:
        if now.wall_s + MAX_STEP_S < previous.wall_s:
            return ClockState.JUMPED_BACK
        if previous.boot_id == now.boot_id:
            elapsed_mono = now.monotonic_s - previous.monotonic_s
            elapsed_wall = now.wall_s - previous.wall_s
            if abs(elapsed_wall - elapsed_mono) > MAX_STEP_S:
                return ClockState.DRIFTED
    if os_synced is False:
        return ClockState.NOT_SYNCED
    return ClockState.TRUSTED


#: a kiosk clock further than this (seconds) from the central store's is shown as wrong
MAX_OFFSET_S = 60.0


def clock_is_off(offset_s: float | None) -> bool:
    return offset_s is not None and abs(offset_s) > MAX_OFFSET_S


def offset_text(offset_s: float) -> str:
    """How far a kiosk's clock is from the central store's, for people, in Chinese and
    English: "快 12 分钟 / 12 min fast"."""
    size = abs(offset_s)
    if size < 90:
        zh_amount, en_amount = f"{size:.0f} 秒", f"{size:.0f} s"
    elif size < 5400:
        zh_amount, en_amount = f"{size / 60:.0f} 分钟", f"{size / 60:.0f} min"
    elif size < 172800:
        zh_amount, en_amount = f"{size / 3600:.0f} 小时", f"{size / 3600:.0f} h"
    else:
        zh_amount, en_amount = f"{size / 86400:.0f} 天", f"{size / 86400:.0f} days"
    if offset_s >= 0:
        return f"快 {zh_amount} / {en_amount} fast"
    return f"慢 {zh_amount} / {en_amount} slow"
