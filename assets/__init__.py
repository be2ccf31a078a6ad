"""Data package kiosk.assets (see kiosk/resources.py): no code."""
