"""Data package kiosk.migrations_server (see kiosk/resources.py): no code."""
