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
