"""How many failed sign-ins or enrolments a client may make before it has to wait.

Pure: given the times of recent failures, says whether one more attempt may be tried and,
if not, how long to wait. The failures themselves are the audit log's rows
(kiosk.server.audit), so the limit holds across API workers and restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failed attempts in any ``window``."""

    failures: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def wait(self, recent: Sequence[datetime], now: datetime) -> timedelta | None:
        """None when another attempt may be tried; else how long until the oldest failure
        that counts leaves the window. ``recent``: failure times, oldest first."""
        inside = [t for t in recent if t > now - self.window]
        if len(inside) < self.failures:
            return None
        oldest_that_counts = inside[len(inside) - self.failures]
        return max(oldest_that_counts + self.window - now, timedelta(seconds=1))


def minutes_to_wait(wait: timedelta) -> int:
    """What the refusal tells a person: whole minutes, at least one."""
    return max(1, round(wait.total_seconds() / 60))


def retry_after(wait: timedelta) -> dict[str, str]:
    """The ``Retry-After`` header of the 429 answer (seconds, rounded up)."""
    return {"Retry-After": str(int(wait.total_seconds()) + 1)}


#: dashboard sign-in: per client address, and per user name from anywhere (the second stops
#: a guesser who spreads over many addresses; it can delay the real user by a quarter hour)
LOGIN_PER_CLIENT = Limit(10, timedelta(minutes=15))
LOGIN_PER_USER = Limit(20, timedelta(minutes=15))
#: kiosk enrolment: codes are 50 bits and used once, so this only stops log and CPU floods
ENROL_PER_CLIENT = Limit(10, timedelta(minutes=15))
