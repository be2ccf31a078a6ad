"""The dashboard's settings: the command's time zone and when a gate counts as silent.

The store keeps every time in naive UTC: the events' (``wall_utc``) and its own (last
contact, data age, findings, audit, sessions, cases, ...: kiosk.server.clock; server
migrations 0007, 0014, 0015); the command works in its own zone (China Standard Time by
default), so every time on a page is shown in that zone, and "today" is its date.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: environment variable with the IANA zone name (``kiosk serve --timezone`` sets it)
TZ_ENV = "KIOSK_DASHBOARD_TZ"
DEFAULT_ZONE = "Asia/Shanghai"
#: a gate that has not called the store for this long is "silent" (kiosks sync every ~30 s)
SILENT_AFTER = timedelta(minutes=15)
#: a gate that has not called for this long holds a roster, revocation list and keys at
#: least this old (it pulls them at every contact): listed as stale, never locked
STALE_AFTER = timedelta(hours=24)
#: environment variable with the hours after which an open fever case is marked overdue
CASE_OVERDUE_ENV = "KIOSK_CASE_OVERDUE_H"
CASE_OVERDUE = timedelta(hours=24)


class BadZone(ValueError):
    pass


def zone_named(name: str) -> ZoneInfo:
    """The zone, or BadZone with a message a person can act on."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadZone(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
                      ) from None


def command_zone() -> ZoneInfo:
    """The command's zone (``kiosk serve --timezone``, which sets the environment for the
    app and the subcommands alike)."""
    return zone_named(os.environ.get(TZ_ENV) or DEFAULT_ZONE)


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    zone: ZoneInfo
    silent_after: timedelta = SILENT_AFTER
    stale_after: timedelta = STALE_AFTER
    #: an open fever case older than this is marked on the dashboard and the briefing
    case_overdue: timedelta = CASE_OVERDUE

    @classmethod
    def from_env(cls) -> DashboardSettings:
        hours = os.environ.get(CASE_OVERDUE_ENV)
        try:
            overdue = timedelta(hours=float(hours)) if hours else CASE_OVERDUE
        except ValueError:
            raise BadZone(f"{CASE_OVERDUE_ENV}={hours!r}: a number of hours") from None
        if overdue <= timedelta(0):
            raise BadZone(f"{CASE_OVERDUE_ENV}={hours!r}: more than 0 hours")
        return cls(command_zone(), case_overdue=overdue)

    def now(self) -> datetime:
        return datetime.now(self.zone)

    def today(self) -> date:
        return self.now().date()

    def from_utc(self, naive_utc: datetime) -> datetime:
        """A stored time (naive UTC: an event's ``wall_utc``, or one the store took with
        kiosk.server.clock.utc_now) in the command's zone."""
        return naive_utc.replace(tzinfo=UTC).astimezone(self.zone)

    def utc_hour_to_local(self, day: date, utc_hour: int) -> int:
        """The local hour of day that a UTC hour of ``day`` falls in (whole-hour zones)."""
        start = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        start_utc_hour = start.astimezone(UTC).hour
        return (utc_hour - start_utc_hour) % 24
