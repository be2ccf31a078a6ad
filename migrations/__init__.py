"""Data package kiosk.migrations (see kiosk/resources.py): no code."""
