"""What the status bar says about the devices: a state from a driver thread becomes a
catalogue key and an ok/not-ok colour, so the volunteer sees at a glance why QR codes are not
read (camera lost) before blaming the pass."""

from __future__ import annotations

from enum import StrEnum


class CameraState(StrEnum):
    """A CameraReader's state, or OFF: the app's state before any reader was started, or
    when none is configured."""

    OFF = "off"
    CONNECTED = "connected"
    LOST = "lost"
    STOPPED = "stopped"  # the short moment between a stop and the next start


CAMERA_OFF = CameraState.OFF


def camera_status(state: CameraState) -> tuple[str, bool]:
    """(catalogue key, ok) for a camera state."""
    if state is CameraState.CONNECTED:
        return "cam_connected", True
    if state is CameraState.LOST:
        return "cam_lost", False
    if state is CameraState.OFF:
        return "cam_off", False
    return "cam_starting", False


def data_age_status(age_s: float | None, max_age_h: int) -> tuple[str, dict[str, int]] | None:
    """(catalogue key, values) of the warning for data held since ``age_s`` seconds ago
    (None: never received), or None while it is younger than ``max_age_h`` hours. Only a
    warning: an old roster still opens the gate to the people on it."""
    if age_s is None:
        return "data_never", {}
    if age_s <= max_age_h * 3600:
        return None
    return "data_old", {"hours": int(age_s // 3600)}
