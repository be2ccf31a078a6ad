"""The kiosk checks a gate event's limits without pydantic (kiosk.core.event.check); the
central store validates with pydantic (kiosk.server.ingest.EVENT_VALIDATOR). Both are made
from the same annotations of kiosk.core.event.GateEvent; this proves they agree: every field
of the event and of its readings, set to each value of a pool of edge cases, is accepted by
both or refused by both with the same message for the volunteer."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Any

import pytest
from pydantic import ValidationError

from kiosk.core.clock import ClockState
from kiosk.core.decision import Outcome
from kiosk.core.event import (
    MAX_READINGS,
    EventInvalid,
    EventReading,
    GateEvent,
    IdentifiedBy,
    check,
    check_values_but,
    describe,
)
from kiosk.core.messages import Reason
from kiosk.core.model import Direction, PassKind
from kiosk.core.screening import ReadingSource, ReadingState
from kiosk.server.ingest import EVENT_VALIDATOR

EID = "0b9f6c1e-7d2a-4e1b-9c3d-2f4a5b6c7d8e"
SHA = "ab" * 32

READING = EventReading(event_id=EID, ordinal=1, state=ReadingState.VALID, object_c=36.6,
                       ambient_c=24.0, used_c=36.6, source=ReadingSource.DEVICE,
                       device="sim", protocol="aa55")
EVENT = GateEvent(
    id=EID, device_id=EID, seq=1, wall_utc=datetime(2026, 11, 30, 8, 0, 0, 1),
    utc_offset_min=480, local_date=date(2026, 11, 30), monotonic_s=12.5, boot_id="boot",
    clock_state=ClockState.TRUSTED, checkpoint="north", volunteer_id=None,
    direction=Direction.OUT, identified_by=IdentifiedBy.QR, pass_number="R0001", pass_id=1,
    pass_kind=PassKind.RESIDENT, resident_id=1, household="1-101", visitor_name=None,
    visitor_phone=None, visitor_reason=None, host_building=None, outcome=Outcome.ALLOW,
    reason=Reason.OK, counts_against_quota=True, escalated=False, fever_threshold_c=37.3,
    forehead_offset_c=0.0, corrects_event_id=None, note="", personal_digest=SHA,
    prev_hash="", hash=SHA, readings=(READING,))


class Small(IntEnum):
    ONE = 1


def _texts() -> list[str]:
    out = ["", "a", EID, EID.upper(), EID + "\n", "\n" + EID, SHA, SHA + "\n", SHA[:-1]]
    for n in (20, 30, 36, 40, 64, 100, 200, 2000):
        out += ["x" * n, "x" * (n + 1), "体" * n, "体" * (n + 1)]
    return out


POOL: list[Any] = [
    None, True, False, 0, 1, -1, 8, 9, Small.ONE, 2**31 - 1, 2**31, -960, -961, 960, 961,
    0.0, -0.0, 0.5, 1.0, 35.0, 34.99, 40.0, 40.01, -3.0, -3.01, 3.0, 3.01, -273.15, -273.16,
    10_000.0, 10_000.01, math.nan, math.inf, -math.inf,
    *_texts(),
    *[m for e in (ClockState, Direction, IdentifiedBy, PassKind, Outcome, Reason,
                  ReadingState, ReadingSource) for m in list(e)[:2]],
    "allow", "qr", "valid",
    date(2000, 1, 1), date(1999, 12, 31), date(2099, 12, 31), date(2100, 1, 1),
    datetime(2026, 1, 1), datetime(1999, 12, 31, 23, 59), datetime(2100, 1, 1),
    datetime(2026, 1, 1, tzinfo=UTC),
    (), (READING,), (READING,) * MAX_READINGS, (READING,) * (MAX_READINGS + 1), [READING],
    (replace(READING, object_c=math.nan),), (replace(READING, ordinal=9),), (EVENT,),
    READING, EVENT, b"x", [], {},
]


def _kiosk(event: GateEvent) -> str | None:
    try:
        check(event)
    except EventInvalid as exc:
        return f"{exc.message.en} | {exc.message.zh} | {str(exc).split(':')[0]}"
    return None


_check_values = check_values_but(())


def _kiosk_values(event: GateEvent) -> str | None:
    """The kiosk's write path checks the event as values by name (not made yet)."""
    try:
        _check_values({f.name: getattr(event, f.name) for f in fields(GateEvent)})
    except EventInvalid as exc:
        return f"{exc.message.en} | {exc.message.zh} | {str(exc).split(':')[0]}"
    return None


def _server(event: GateEvent) -> str | None:
    try:
        EVENT_VALIDATOR.validate_python(event)
    except ValidationError as exc:
        refused = describe(exc.errors(include_url=False))
        return f"{refused.message.en} | {refused.message.zh} | {str(refused).split(':')[0]}"
    return None


def _cases() -> list[tuple[str, GateEvent]]:
    cases = [("event", EVENT)]
    for f in fields(GateEvent):
        cases += [(f"{f.name}={v!r:.40}", replace(EVENT, **{f.name: v})) for v in POOL]
    for f in fields(EventReading):
        cases += [(f"readings.{f.name}={v!r:.40}",
                   replace(EVENT, readings=(replace(READING, **{f.name: v}),))) for v in POOL]
    return cases


def test_the_kiosk_and_the_central_store_accept_and_refuse_the_same_events() -> None:
    cases = _cases()
    disagree = [(name, k, s) for name, event in cases
                if (k := _kiosk(event)) != (s := _server(event))]
    assert disagree == []
    assert [name for name, event in cases if _kiosk_values(event) != _kiosk(event)] == []
    refused = sum(_kiosk(e) is not None for _, e in cases)
    assert 0.5 * len(cases) < refused < len(cases)  # the pool has both kinds
    assert _kiosk(EVENT) is None


@pytest.mark.parametrize(("field", "value", "words"), [
    ("pass_number", "A" * 41, "pass number too long (at most 40 characters)"),
    ("id", EID.upper(), "id is not valid"),
    ("wall_utc", datetime(2026, 1, 1, tzinfo=UTC), "wall_utc is not valid"),
    ("fever_threshold_c", math.nan, "fever_threshold_c is not a usable number"),
])
def test_the_kiosk_says_what_is_wrong(field: str, value: Any, words: str) -> None:
    with pytest.raises(EventInvalid) as caught:
        check(replace(EVENT, **{field: value}))
    assert caught.value.message.en == words
