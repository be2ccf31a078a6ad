"""The one clock of the central store (and of a hub): every time it keeps is naive UTC.

Why: the store runs on machines whose zone is anything (a district server set to local
time, a Pi booting in UTC, a zone changed later); a time taken with ``datetime.now()`` is
that machine's local time, and stored beside the events' UTC times it mixes two clocks (a
case closed "before" the fever that opened it, sessions expiring hours off). The pages and
the CLI show these times in the command's zone (``kiosk serve --timezone``), and "today" is
the command's date (``DashboardSettings``); server migrations 0007, 0014 and 0015 moved the
rows written before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from kiosk.server.web.settings import command_zone
from kiosk.store.lite import utc_now  # naive UTC, as the kiosk keeps its own times

__all__ = ["command_today", "command_zone", "in_zone", "utc_now"]


def in_zone(naive_utc: datetime, zone: ZoneInfo) -> datetime:
    """A stored time (naive UTC) in ``zone``, aware."""
    return naive_utc.replace(tzinfo=UTC).astimezone(zone)


def command_today() -> date:
    """Today as the command counts days (the events' ``local_date``, the dashboard's
    "today"), not the date of the machine's own zone."""
    return datetime.now(command_zone()).date()
