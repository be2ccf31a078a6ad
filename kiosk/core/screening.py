"""Temperature screening: what a reading means and what a pair of readings decides.

Units are degrees Celsius throughout. A driver reports raw values; this module alone
decides whether a value is a usable body reading, so every protocol is judged the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: Lowest and highest plausible body reading (°C). Outside is "LO" / "HI": re-measure.
VALID_MIN_C = 32.0
VALID_MAX_C = 42.9


class ReadingState(StrEnum):
    """What the gate core understands of one thermometer reading."""

    NO_TARGET = "no_target"  # nothing in front of the sensor / no reading arrived
    LO = "lo"  # below 32.0 °C: cold skin or no target, re-measure
    VALID = "valid"
    HI = "hi"  # above 42.9 °C: re-measure
    SENSOR_ERROR = "sensor_error"  # device reported a fault or sent an impossible value


class ReadingSource(StrEnum):
    DEVICE = "device"  # from the serial thermometer
    MANUAL = "manual"  # typed by the volunteer (thermometer down, handheld used)


@dataclass(frozen=True, slots=True)
class Reading:
    """One temperature reading as recorded with a gate event.

    ``object_c`` and ``ambient_c`` are the raw values the device sent (None when it sent none);
    ``used_c`` is the value screened: object plus the configured forehead-to-body offset.
    ``taken_monotonic`` is time.monotonic() seconds when the reading arrived at the kiosk.
    """

    state: ReadingState
    object_c: float | None = None
    ambient_c: float | None = None
    used_c: float | None = None
    source: ReadingSource = ReadingSource.DEVICE
    device: str = ""
    protocol: str = ""
    taken_monotonic: float = 0.0


def classify(value_c: float | None) -> ReadingState:
    """Classify a body temperature value (already offset-corrected)."""
    if value_c is None:
        return ReadingState.NO_TARGET
    if math.isnan(value_c) or math.isinf(value_c):
        return ReadingState.SENSOR_ERROR
    if value_c < VALID_MIN_C:
        return ReadingState.LO
    if value_c > VALID_MAX_C:
        return ReadingState.HI
    return ReadingState.VALID


def make_reading(
    object_c: float | None,
    *,
    ambient_c: float | None = None,
    offset_c: float = 0.0,
    source: ReadingSource = ReadingSource.DEVICE,
    device: str = "",
    protocol: str = "",
    taken_monotonic: float = 0.0,
) -> Reading:
    """Build a classified reading from a raw object temperature and the configured offset."""
    used: float | None = None
    if object_c is not None and math.isfinite(object_c):
        used = round(object_c + offset_c, 2)
    state = classify(used) if object_c is None or math.isfinite(object_c) else classify(object_c)
    return Reading(
        state=state,
        # a device's NaN or infinity is its "no number": the state says sensor error, and
        # no non-finite value is ever recorded (kiosk.core.event refuses one)
        object_c=object_c if object_c is None or math.isfinite(object_c) else None,
        ambient_c=ambient_c if ambient_c is None or math.isfinite(ambient_c) else None,
        used_c=used,
        source=source,
        device=device,
        protocol=protocol,
        taken_monotonic=taken_monotonic,
    )


def is_fresh(reading: Reading, *, identified_monotonic: float, now_monotonic: float,
             max_age_s: float = 3.0) -> bool:
    """A reading belongs to the person in front of the device only if it was taken after that
    person was identified and is no older than ``max_age_s`` seconds. Manual readings are typed
    for the person on screen and are always fresh."""
    if reading.source is ReadingSource.MANUAL:
        return True
    return identified_monotonic <= reading.taken_monotonic <= now_monotonic and (
        now_monotonic - reading.taken_monotonic
    ) <= max_age_s
