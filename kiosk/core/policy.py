"""Gate policy: the rules a district command sets, as one immutable value.

Loaded from the kiosk's settings file (kiosk.settings) and, later, from the central store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from kiosk.core.model import Direction, PassKind

#: 2020 rule: one outing per household every two days; essential workers exempt.
DEFAULT_QUOTA_EXEMPT = frozenset({PassKind.WORKER, PassKind.STAFF, PassKind.SUPPLIER,
                                  PassKind.VISITOR})


@dataclass(frozen=True, slots=True)
class HourWindow:
    """Daily window [start, end) in local time; end before start wraps past midnight."""

    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


#: °C at or above which a reading means fever (the one default; settings use it too)
DEFAULT_FEVER_THRESHOLD_C = 37.3


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything the decision needs besides the person and the reading.

    Temperatures in °C. ``quota_outings`` outings per household within ``quota_days``
    calendar days (today and the days before it); 0 outings disables the quota.
    """

    fever_threshold_c: float = DEFAULT_FEVER_THRESHOLD_C
    forehead_offset_c: float = 0.0
    quota_outings: int = 1
    quota_days: int = 2
    quota_exempt_kinds: frozenset[PassKind] = DEFAULT_QUOTA_EXEMPT
    #: kinds this gate lets through at all, per direction
    allowed_kinds: dict[Direction, frozenset[PassKind]] = field(
        default_factory=lambda: {d: frozenset(PassKind) for d in Direction}
    )
    #: optional opening hours per kind (e.g. deliveries 06:00-20:00); absent = any hour
    hours: dict[PassKind, HourWindow] = field(default_factory=dict)
    #: seconds a thermometer reading stays good for the person just identified
    reading_max_age_s: float = 3.0
    #: the command's rule set these rules come from (kiosk.core.rules); None: the kiosk's
    #: own settings
    rules_version: int | None = None

    def quota_applies(self, kind: PassKind) -> bool:
        return self.quota_outings > 0 and kind not in self.quota_exempt_kinds
