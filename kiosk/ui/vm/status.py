"""What the status bar says about the devices: a state from a driver thread becomes a
catalogue key and an ok/not-ok colour, so the volunteer sees at a glance why QR codes are not
read (camera lost) before blaming the pass."""

from __future__ import annotations

#: the app's camera state before any reader was started, or when none is configured
CAMERA_OFF = "off"


def camera_status(state: str) -> tuple[str, bool]:
    """(catalogue key, ok) for a CameraReader state ('connected', 'lost', 'stopped') or
    ``CAMERA_OFF``; 'stopped' is the short moment between a stop and the next start."""
    if state == "connected":
        return "cam_connected", True
    if state == "lost":
        return "cam_lost", False
    if state == CAMERA_OFF:
        return "cam_off", False
    return "cam_starting", False
