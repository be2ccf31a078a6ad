"""Checkpoint Kiosk: gate registration for residential compounds under lockdown."""

__version__ = "0.1.0"
